// Fan-out: the demo playbook on N real OpenSSH loopback hosts, three ways, interleaved:
//   fleet      `fleet prepare --playbook demo` (upload, every step, every event into SQLite)
//   ansible    ansible-playbook: copy the same bundle, then the same step commands, one task each
//   pssh       parallel-scp of the same bundle + one parallel-ssh running the same commands chained
// Every host's state is wiped before every run, so each run does the whole work.
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {startLocalHosts, type LocalHost, type LocalHostSet} from '../testbed/index.js'
import {buildBundle, resolvePlaybook} from '../src/orchestrator/bundle.js'
import {packageRoot, withoutCaBundle} from '../src/remote-agent/local-agent.js'
import {validateLocally} from '../src/orchestrator/validate.js'
import {FleetStore} from '../src/store/store.js'
import {accountingAvailable, cpuOf, withAccounting} from './acct.js'
import {mountHostDisk} from './host-disk.js'
import {peerSteps, syntaxCheck, PEER_TOOLS} from './peers.js'
import {timed} from './proc.js'

export type Method = 'fleet' | 'ansible' | 'pssh'
export const METHODS: Method[] = ['fleet', 'ansible', 'pssh']

export interface FanOutOptions {
  hosts: number
  rounds: number
  /** Account prefix of the loopback hosts (one running set per prefix). */
  prefix?: string
  methods?: Method[]
  log?: (line: string) => void
  /** Extra arguments for `fleet prepare` (e.g. ['--compress']). */
  fleetArgs?: string[]
  /** Measure the floor (N sequential `ssh host true`). Default true. */
  floor?: boolean
  /** Break the hosts' CPU down with process accounting (when accton is there). Default true. */
  accounting?: boolean
}

/** One run of one method: wall time, the controller's CPU, the hosts' CPU (process accounting). */
export interface MethodRun {
  ms: number
  /** CPU of the command on the instructor's side, with the children it waited for. */
  controllerCpuMs: number
  /** CPU of every process of the hosts' accounts (sshd sessions, shells, agents, steps). */
  hostCpuMs?: number
  hostByCommand?: Record<string, {ms: number; n: number}>
  /** The same for every other account's processes that ended during the run (root's sshd, the instructor's side). */
  otherByCommand?: Record<string, {ms: number; n: number}>
  /** What MethodRunsOptions.counters counted over the run (e.g. a link's tx and rx bytes). */
  counters?: Record<string, number>
}

export interface FanOutResult {
  hosts: number
  rounds: number
  times: Record<Method, number[]>
  runs: Record<Method, MethodRun[]>
  /** Peak RSS of each `fleet prepare`, KiB. */
  fleetRssKb: number[]
  /** Events stored per fleet round (checked against the hosts' journals). */
  fleetEvents: number
  bundleBytes: number
  floor?: {sequentialMs: number; perConnectionMs: number; cores: number; floorMs: number}
}

const PEER_DIR = '.fleet-peer'
const PEER_TAR = 'fleet-peer.tar'

/** Everything fleet, the demo and the peers leave in a host's home. */
export function resetHost(h: LocalHost): void {
  for (const d of ['.fleet', '.local', 'fleet-demo', PEER_DIR, PEER_TAR, '.ansible']) rmSync(join(h.home, d), {recursive: true, force: true})
}

/** The demo ran to its end on the host: its last step's report and the secret's hash are there. */
function verifyHost(h: LocalHost, method: Method): void {
  for (const f of ['fleet-demo/report.txt', 'fleet-demo/token.sha256', 'fleet-demo/flaky.ok', 'fleet-demo/service.ready', 'fleet-demo/demo.conf']) {
    if (!existsSync(join(h.home, f))) throw new Error(`${method} on ${h.name}: ${f} is missing; the demo did not run to its end`)
  }
}

function journalLines(h: LocalHost): number {
  const runs = join(h.home, '.local/state/fleet-agent/runs')
  if (!existsSync(runs)) return 0
  let n = 0
  for (const run of readdirSync(runs)) {
    const f = join(runs, run, 'journal.jsonl')
    if (existsSync(f)) n += readFileSync(f, 'utf8').split('\n').filter(Boolean).length
  }
  return n
}

interface Files {
  dir: string
  hostsFile: string
  knownHosts: string
  identity: string
  tar: string
  ansibleCfg: string
  ansibleInventory: string
  ansiblePlay: string
  psshHosts: string
  pssshLine: string
}

function sshOptions(f: {knownHosts: string; identity: string}): string[] {
  return [`IdentityFile=${f.identity}`, `UserKnownHostsFile=${f.knownHosts}`, 'StrictHostKeyChecking=yes', 'BatchMode=yes', 'IdentitiesOnly=yes', 'LogLevel=ERROR']
}

function prepareFiles(set: LocalHostSet, n: number): Files & {bundleBytes: number} {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-fanout-'))
  const f = {
    dir,
    hostsFile: join(dir, 'hosts.txt'),
    knownHosts: join(dir, 'known_hosts'),
    identity: set.identityFile,
    tar: join(dir, 'bundle.tar'),
    ansibleCfg: join(dir, 'ansible.cfg'),
    ansibleInventory: join(dir, 'inventory.ini'),
    ansiblePlay: join(dir, 'play.yml'),
    psshHosts: join(dir, 'pssh-hosts.txt'),
    pssshLine: '',
  }
  writeFileSync(f.hostsFile, set.hostsFileText())
  writeFileSync(f.knownHosts, set.knownHostsText())

  // The same bundle fleet uploads (the agent + the files the playbook uses), as one tar for the peers.
  const demo = resolvePlaybook('demo')
  const bundle = buildBundle(demo, validateLocally({mode: 'run', playbook: demo, steps: {}}).files)
  const root = join(dir, 'bundle')
  for (const b of bundle.files) {
    mkdirSync(dirname(join(root, b.rel)), {recursive: true})
    writeFileSync(join(root, b.rel), b.data, {mode: b.mode})
  }
  execFileSync('tar', ['cf', f.tar, '-C', root, '.'])

  const steps = peerSteps(resolvePlaybook('demo'))
  syntaxCheck(steps)
  const unpack = `mkdir -p ${PEER_DIR} && tar xf ${PEER_TAR} -C ${PEER_DIR}`

  // Ansible: forks = hosts, strategy free, pipelining, no fact gathering, no interpreter discovery.
  writeFileSync(
    f.ansibleCfg,
    [
      '[defaults]',
      `inventory = ${f.ansibleInventory}`,
      `forks = ${n}`,
      'strategy = free',
      'gathering = explicit',
      'retry_files_enabled = False',
      'interpreter_python = /usr/bin/python3',
      'deprecation_warnings = False',
      'nocolor = True',
      // 200 hosts connecting at once on 2 cores take longer than the default 10 s.
      'timeout = 120',
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = -o ControlMaster=auto -o ControlPersist=60s ${sshOptions(f).filter((o) => !o.startsWith('IdentityFile')).map((o) => `-o ${o}`).join(' ')}`,
      '',
    ].join('\n'),
  )
  writeFileSync(
    f.ansibleInventory,
    '[room]\n' + set.hosts.map((h) => `${h.name} ansible_host=${h.address} ansible_port=${h.port} ansible_user=${h.user} ansible_ssh_private_key_file=${h.identityFile} fleet_home=${h.home}\n`).join(''),
  )
  const raw = (s: string) => {
    if (s.includes('{% endraw %}')) throw new Error('a step command contains "{% endraw %}"')
    return `{% raw %}${s}{% endraw %}`
  }
  const play = [
    {
      name: 'demo playbook, as fleet runs it',
      hosts: 'all',
      gather_facts: false,
      strategy: 'free',
      tasks: [
        {name: 'copy the bundle', 'ansible.builtin.copy': {src: f.tar, dest: `{{ fleet_home }}/${PEER_TAR}`, mode: '0600'}},
        {name: 'unpack the bundle', 'ansible.builtin.shell': {cmd: unpack, chdir: '{{ fleet_home }}'}},
        ...steps.map((s) => ({name: s.id, 'ansible.builtin.shell': {cmd: raw(s.command), chdir: '{{ fleet_home }}'}})),
      ],
    },
  ]
  writeFileSync(f.ansiblePlay, JSON.stringify(play, null, 1)) // JSON is YAML

  // pssh: one upload, one command line per host.
  writeFileSync(f.psshHosts, set.hosts.map((h) => `${h.user}@${h.address}:${h.port}\n`).join(''))
  f.pssshLine = [unpack, ...steps.map((s) => `{ ${s.command}; }`)].join(' && ')
  return {...f, bundleBytes: bundle.bytes}
}

async function runFleet(f: Files, n: number, round: number, extra: string[], set: LocalHostSet): Promise<{ms: number; cpuMs: number; rssKb: number; events: number}> {
  const db = join(f.dir, `fleet-${round}.db`)
  const rssFile = join(f.dir, `fleet-${round}.rss`)
  const root = packageRoot()
  const argv = [process.execPath, '--import', join(root, 'bench/rss-hook.mjs'), join(root, 'dist/fleet/fleet.mjs'), 'prepare', '--hosts', f.hostsFile, '--db', db, '--playbook', 'demo', '--concurrency', String(n), '--connect-timeout', '120', '--known-hosts', f.knownHosts, '--json', ...extra]
  // As an instructor's shell starts it: without this machine's NODE_EXTRA_CA_CERTS (its TLS
  // proxy's CA bundle, which every Node.js start reads first: ~30-50 ms of CPU a command that
  // the OpenSSH clients and Ansible's Python never pay). Nothing in the run opens TLS.
  const r = await timed(argv, {env: {...withoutCaBundle(process.env), SSH_AUTH_SOCK: '', NO_COLOR: '1', FLEET_BENCH_RSS_FILE: rssFile}})
  const summary = JSON.parse(r.stdout) as {ok?: boolean; hosts?: number}
  if (!summary.ok || summary.hosts !== n) throw new Error(`fleet prepare did not finish ok on every host: ${r.stdout.slice(0, 2000)}`)
  // Every record of every host's journal is in SQLite, once.
  const store = FleetStore.open(db)
  const stored = store.eventCount()
  store.close()
  const journaled = set.hosts.reduce((s, h) => s + journalLines(h), 0)
  if (stored !== journaled) throw new Error(`fleet stored ${stored} events, the hosts journaled ${journaled}`)
  rmSync(db, {force: true})
  rmSync(`${db}-wal`, {force: true})
  rmSync(`${db}-shm`, {force: true})
  return {ms: r.ms, cpuMs: r.cpuMs, rssKb: Number(readFileSync(rssFile, 'utf8')), events: stored}
}

async function runAnsible(f: Files, round: number): Promise<{ms: number; cpuMs: number}> {
  const cp = join(f.dir, `cp-${round}`)
  mkdirSync(cp, {recursive: true, mode: 0o700})
  const env = {...process.env, ANSIBLE_CONFIG: f.ansibleCfg, ANSIBLE_SSH_CONTROL_PATH_DIR: cp, ANSIBLE_LOCAL_TEMP: join(f.dir, 'ansible-tmp'), ANSIBLE_HOME: join(f.dir, 'ansible-home'), SSH_AUTH_SOCK: ''}
  try {
    const r = await timed(['ansible-playbook', f.ansiblePlay], {env})
    if (!/failed=0\s/.test(r.stdout) || /failed=[1-9]|unreachable=[1-9]/.test(r.stdout)) throw new Error(`ansible-playbook reported failures:\n${r.stdout.slice(-3000)}`)
    return {ms: r.ms, cpuMs: r.cpuMs}
  } finally {
    // Close the ControlPersist masters this run left, so the next round starts cold like the others.
    const socks = existsSync(cp) ? readdirSync(cp) : []
    await Promise.all(socks.map((s) => timed(['ssh', '-o', `ControlPath=${join(cp, s)}`, '-O', 'exit', 'x'], {okCodes: [0, 255]}).catch(() => undefined)))
  }
}

async function runPssh(f: Files, n: number): Promise<{ms: number; cpuMs: number}> {
  const common = ['-h', f.psshHosts, '-p', String(n), '-t', '0', ...sshOptions(f).flatMap((o) => ['-O', o])]
  const env = {...process.env, SSH_AUTH_SOCK: ''}
  const a = await timed([PEER_TOOLS.pscp, ...common, f.tar, PEER_TAR], {env})
  const b = await timed([PEER_TOOLS.pssh, ...common, f.pssshLine], {env})
  return {ms: a.ms + b.ms, cpuMs: a.cpuMs + b.cpuMs}
}

/** N sequential `ssh host true`: what one connection costs, and that times N over the cores. */
async function floor(set: LocalHostSet, f: Files): Promise<FanOutResult['floor']> {
  const t0 = process.hrtime.bigint()
  for (const h of set.hosts) await timed(['ssh', ...sshOptions(f).flatMap((o) => ['-o', o]), '-p', String(h.port), `${h.user}@${h.address}`, 'true'], {env: {...process.env, SSH_AUTH_SOCK: ''}})
  const sequentialMs = Number(process.hrtime.bigint() - t0) / 1e6
  const cores = cpus().length
  return {sequentialMs, perConnectionMs: sequentialMs / set.hosts.length, cores, floorMs: sequentialMs / cores}
}

/** How the methods run on a set of hosts that is already up (see runMethods). */
export interface MethodRunsOptions {
  rounds: number
  methods?: Method[]
  /** Names the case in the log lines, e.g. "fan-out 50 hosts". */
  label: string
  log?: (line: string) => void
  fleetArgs?: string[]
  /** Measure the floor (N sequential `ssh host true`). Default true. */
  floor?: boolean
  /** Break the hosts' CPU down with process accounting (when accton is there). Default true. */
  accounting?: boolean
  /** Read right before and right after every run (e.g. a link's byte counters); the differences land in MethodRun.counters. */
  counters?: () => Record<string, number>
}

/**
 * The methods on `set`, interleaved round by round, every host wiped before every run
 * and checked after it. Shared by the loopback fan-out and the WAN bench (bench/wan.ts).
 */
export async function runMethods(set: LocalHostSet, opts: MethodRunsOptions): Promise<FanOutResult> {
  const log = opts.log ?? (() => undefined)
  const methods = opts.methods ?? METHODS
  const n = set.hosts.length
  const f = prepareFiles(set, n)
  try {
    const result: FanOutResult = {hosts: n, rounds: opts.rounds, times: {fleet: [], ansible: [], pssh: []}, runs: {fleet: [], ansible: [], pssh: []}, fleetRssKb: [], fleetEvents: 0, bundleBytes: f.bundleBytes}
    const acct = (opts.accounting ?? true) && accountingAvailable()
    const users = new Set(set.hosts.map((h) => h.user))
    for (let round = 0; round < opts.rounds; round++) {
      for (const m of methods) {
        for (const h of set.hosts) resetHost(h)
        // What the previous method left running (Ansible's controller winding down, hosts'
        // sessions closing) must not be charged to this one.
        await settle()
        const once = async (): Promise<{ms: number; cpuMs: number}> => {
          if (m === 'ansible') return runAnsible(f, round)
          if (m === 'pssh') return runPssh(f, n)
          const r = await runFleet(f, n, round, opts.fleetArgs ?? [], set)
          result.fleetRssKb.push(r.rssKb)
          result.fleetEvents = r.events
          return r
        }
        const run: MethodRun = {ms: 0, controllerCpuMs: 0}
        const before = opts.counters?.()
        if (acct) {
          const {result: r, procs} = await withAccounting(once)
          const host = cpuOf(procs, users)
          const rest = cpuOf(procs, new Set(procs.map((p) => p.user).filter((u) => !users.has(u))))
          Object.assign(run, {ms: r.ms, controllerCpuMs: r.cpuMs, hostCpuMs: host.totalMs, hostByCommand: Object.fromEntries(host.byCommand), otherByCommand: Object.fromEntries(rest.byCommand)})
        } else {
          const r = await once()
          Object.assign(run, {ms: r.ms, controllerCpuMs: r.cpuMs})
        }
        if (before) {
          const after = opts.counters!()
          run.counters = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]))
        }
        for (const h of set.hosts) verifyHost(h, m)
        result.times[m].push(run.ms)
        result.runs[m].push(run)
        const counted = run.counters ? `; ${Object.entries(run.counters).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''
        log(`${opts.label}, round ${round + 1}/${opts.rounds}: ${m} ${(run.ms / 1000).toFixed(2)} s (controller CPU ${(run.controllerCpuMs / 1000).toFixed(1)} s${run.hostCpuMs === undefined ? '' : `, hosts' CPU ${(run.hostCpuMs / 1000).toFixed(1)} s`}${counted})`)
      }
    }
    for (const h of set.hosts) resetHost(h)
    if (opts.floor ?? true) {
      result.floor = await floor(set, f)
      log(`${opts.label}: ${n} sequential ssh connections ${(result.floor!.sequentialMs / 1000).toFixed(2)} s`)
    }
    return result
  } finally {
    rmSync(f.dir, {recursive: true, force: true})
  }
}

/**
 * Wait until the machine is nearly idle (under a fifth of its cores busy over 300 ms),
 * at most 20 s: every method starts from the same quiet machine.
 */
export async function settle(): Promise<void> {
  const cores = cpus().length
  const deadline = Date.now() + 20_000
  for (;;) {
    const [b0, t0] = [machineCpuMs(), Date.now()]
    await new Promise((r) => setTimeout(r, 300))
    const busy = (machineCpuMs() - b0) / (Date.now() - t0) / cores
    if (busy < 0.2 || Date.now() > deadline) return
  }
}

/**
 * CPU time the whole machine has spent (every core, user + system + interrupts), from
 * /proc/stat: on loopback the hosts and the instructor share the cores, so this, over a
 * run, is what the run cost, whoever paid it (kernel and sshd's root-owned parts included).
 */
export function machineCpuMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal, in USER_HZ (1/100 s on Linux)
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 10
}

export async function fanOutBench(opts: FanOutOptions): Promise<FanOutResult> {
  const log = opts.log ?? (() => undefined)
  const n = opts.hosts
  log(`fan-out ${n} hosts: starting the loopback hosts (homes on a journaled ext4, bench/host-disk.ts)`)
  const prefix = opts.prefix ?? 'fbx'
  const disk = mountHostDisk(prefix)
  try {
    const set = await startLocalHosts({count: n, prefix, homeRoot: disk.homeRoot, maxSessions: 64, logLevel: 'ERROR', startTimeoutMs: 120_000})
    try {
      return await runMethods(set, {rounds: opts.rounds, methods: opts.methods, label: `fan-out ${n} hosts`, log, fleetArgs: opts.fleetArgs, floor: opts.floor, accounting: opts.accounting, counters: () => ({machineCpuMs: machineCpuMs()})})
    } finally {
      await set.stop()
    }
  } finally {
    disk.unmount()
  }
}
