// A benchmark that looks like a room: the hosts sit behind a venue's uplink. N real OpenSSH
// hosts (testbed/local-hosts, `netns`) in a network namespace of their own, reached from the
// instructor's side (this machine's root namespace) through one veth pair capped at MBIT
// Mbit/s each way, with DELAY_MS more each way behind it. fleet, ansible-playbook and
// parallel-scp + parallel-ssh run the demo playbook on them, interleaved (bench/fanout.ts
// runMethods, the same runners as the loopback fan-out); per run, the wall time and the
// bytes through the instructor's link (its veth's tx + rx byte counters).
//
//   root namespace          fleet-wan-link                         fleet-wan-room
//   fwan0 10.213.255.1 ==== fwan1 10.213.255.2   fwan2 10.213.254.1 ==== fwan3 10.213.254.2
//   tbf MBIT (egress)       tbf MBIT (egress)     delay (egress)          delay (egress)
//   route 10.213.0.0/16     ip_forward                                    hosts 10.213.X.Y/32
//
// The delay: `tc netem` on the second pair when the kernel has sch_netem; without it, a
// TUN device in fleet-wan-link (bench/delay-line.py) that every packet crossing the link
// namespace is routed through (policy routing by incoming interface) and written back
// into DELAY_MS later. Nothing is added to the root namespace but fwan0, its address and
// its route (all three go with the device); everything is removed at the end, also when
// the run fails, and by a process exit or SIGINT/SIGTERM half-way.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {join} from 'node:path'
import {startLocalHosts, type LocalHostSet} from '../testbed/index.js'
import {mountHostDisk, type HostDisk} from './host-disk.js'
import {descendants, isAlive, readProc, signalPid} from '../testbed/machine/procs.js'
import {packageRoot} from '../src/remote-agent/local-agent.js'
import {runMethods, type FanOutResult, type Method} from './fanout.js'
import {median} from './proc.js'

export interface WanOptions {
  hosts: number
  rounds: number
  /** Added delay each way, ms (the round trip is twice this). Default 60. */
  delayMs?: number
  /** The instructor's link, Mbit/s each way. Default 20. */
  mbit?: number
  methods?: Method[]
  /**
   * Extra arguments for `fleet prepare`. Default none: fleet sends the bundle gzipped anyway
   * (compressed once for every host), as parallel-scp compresses unasked (`scp -C`, per host);
   * parallel-ssh's commands and Ansible go uncompressed, as they do by default.
   */
  fleetArgs?: string[]
  /** Account prefix of the hosts. Default `fwn`. */
  prefix?: string
  /** Process accounting of the hosts' CPU (when accton is there). Default true. */
  accounting?: boolean
  log?: (line: string) => void
}

export interface WanResult {
  hosts: number
  rounds: number
  delayMs: number
  mbit: number
  /** How the delay was made: tc netem, or the TUN delay line (no sch_netem in this kernel). */
  delay: 'netem' | 'delay-line'
  fleetArgs: string[]
  /** TCP round trip from the instructor's side to the first host (connect to a closed port, median of 5), ms. */
  rttMs: number
  /** Per method and run: wall time, and counters.tx / counters.rx of the instructor's veth. */
  fan: FanOutResult
}

const LINK_NS = 'fleet-wan-link'
const ROOM_NS = 'fleet-wan-room'
const IF = {root: 'fwan0', linkUp: 'fwan1', linkDown: 'fwan2', room: 'fwan3', delay: 'fwand'}
const NET = '10.213'
const ADDR = {root: `${NET}.255.1`, linkUp: `${NET}.255.2`, linkDown: `${NET}.254.1`, room: `${NET}.254.2`, delay: `${NET}.253.1`}
/** The policy-routing table of the link namespace that sends everything through the delay line. */
const DELAY_TABLE = '100'
const PER_X = 254
/** 10.213.0.1 … 10.213.249.254: the third octet stops below the link's own addresses. */
export const WAN_MAX_HOSTS = 250 * PER_X

/** Address of host `index` (1-based) in the room namespace. */
export function wanHostAddress(index: number): string {
  const i = index - 1
  if (!Number.isInteger(index) || index < 1 || index > WAN_MAX_HOSTS) throw new Error(`WAN bench: host index ${index} is outside 1..${WAN_MAX_HOSTS}`)
  return `${NET}.${Math.floor(i / PER_X)}.${(i % PER_X) + 1}`
}

function run(argv: string[], opts: {input?: string; ok?: boolean} = {}): {ok: boolean; out: string} {
  const r = spawnSync(argv[0], argv.slice(1), {input: opts.input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe']})
  const ok = r.status === 0
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim()
  if (!ok && !opts.ok) throw new Error(`WAN bench: \`${argv.join(' ')}\` failed: ${out}`)
  return {ok, out}
}
const ip = (ns: string | undefined, ...args: string[]) => run(['ip', ...(ns ? ['-n', ns] : []), ...args])
const tc = (ns: string | undefined, ...args: string[]) => run(['tc', ...(ns ? ['-n', ns] : []), ...args])
const sysctl = (ns: string, ...kv: string[]) => run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', ...kv])

const nsExists = (ns: string) => existsSync(`/run/netns/${ns}`)
const rootLinkExists = () => existsSync(`/sys/class/net/${IF.root}`)

/** Remove what the bench makes (synchronous, idempotent; also for leftovers of a killed run). Returns what it could not remove. */
function teardownNetwork(): string[] {
  const left: string[] = []
  // The pair goes with either end; fwan0's address, route and qdisc go with it.
  if (rootLinkExists() && !run(['ip', 'link', 'del', IF.root], {ok: true}).ok) left.push(IF.root)
  for (const ns of [ROOM_NS, LINK_NS]) if (nsExists(ns) && !run(['ip', 'netns', 'del', ns], {ok: true}).ok) left.push(ns)
  if (rootLinkExists()) left.push(IF.root)
  for (const ns of [ROOM_NS, LINK_NS]) if (nsExists(ns)) left.push(ns)
  return [...new Set(left)]
}

const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0) >>> 0
function overlaps(cidr: string, base: string, bits: number): boolean {
  const [a, l] = cidr.split('/')
  const len = l === undefined ? 32 : Number(l)
  const m = Math.min(len, bits)
  const mask = m === 0 ? 0 : (~0 << (32 - m)) >>> 0
  return ((toInt(a) & mask) >>> 0) === ((toInt(base) & mask) >>> 0)
}

/** 10.213.0.0/16 must be free in the root namespace: no address or route in it (but the default route). */
function checkAddressSpace(): void {
  const routes = ip(undefined, '-4', 'route', 'show', 'table', 'all').out.split('\n')
  const addrs = ip(undefined, '-4', '-o', 'addr', 'show').out.split('\n')
  const used = [
    ...routes.map((l) => l.trim().split(/\s+/).find((w) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(w)) ?? ''),
    ...addrs.map((l) => l.match(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/)?.[1] ?? ''),
  ].filter((c) => c && !c.startsWith('0.0.0.0') && overlaps(c, `${NET}.0.0`, 16))
  if (used.length) throw new Error(`WAN bench: ${NET}.0.0/16 is in use in this namespace (${[...new Set(used)].join(', ')}); the bench needs it for the room's namespace`)
}

/** The two namespaces, the two pairs, addresses, routes, forwarding, and the rate cap on the instructor's link. */
function setupNetwork(mbit: number, hostAddresses: string[]): void {
  ip(undefined, 'netns', 'add', LINK_NS)
  ip(undefined, 'netns', 'add', ROOM_NS)
  // Before any device exists there: new devices take `default`.
  sysctl(LINK_NS, 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0')
  ip(undefined, 'link', 'add', IF.root, 'type', 'veth', 'peer', 'name', IF.linkUp, 'netns', LINK_NS)
  ip(LINK_NS, 'link', 'add', IF.linkDown, 'type', 'veth', 'peer', 'name', IF.room, 'netns', ROOM_NS)

  ip(undefined, 'addr', 'add', `${ADDR.root}/30`, 'dev', IF.root)
  ip(undefined, 'link', 'set', IF.root, 'up')
  ip(undefined, 'route', 'add', `${NET}.0.0/16`, 'via', ADDR.linkUp, 'dev', IF.root, 'src', ADDR.root)

  ip(LINK_NS, 'link', 'set', 'lo', 'up')
  ip(LINK_NS, 'addr', 'add', `${ADDR.linkUp}/30`, 'dev', IF.linkUp)
  ip(LINK_NS, 'link', 'set', IF.linkUp, 'up')
  ip(LINK_NS, 'addr', 'add', `${ADDR.linkDown}/24`, 'dev', IF.linkDown)
  ip(LINK_NS, 'link', 'set', IF.linkDown, 'up')
  ip(LINK_NS, 'route', 'add', `${NET}.0.0/16`, 'via', ADDR.room, 'dev', IF.linkDown)

  ip(ROOM_NS, 'link', 'set', 'lo', 'up')
  ip(ROOM_NS, 'addr', 'add', `${ADDR.room}/24`, 'dev', IF.room)
  run(['ip', '-n', ROOM_NS, '-batch', '-'], {input: hostAddresses.map((a) => `addr add ${a}/32 dev ${IF.room}\n`).join('')})
  ip(ROOM_NS, 'link', 'set', IF.room, 'up')
  ip(ROOM_NS, 'route', 'add', 'default', 'via', ADDR.linkDown, 'dev', IF.room)

  // The venue's uplink: MBIT each way, a 100 ms buffer (what does not fit is dropped, as on a router).
  const tbf = ['root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '32kb', 'latency', '100ms']
  tc(undefined, 'qdisc', 'add', 'dev', IF.root, ...tbf)
  tc(LINK_NS, 'qdisc', 'add', 'dev', IF.linkUp, ...tbf)
}

/** The delay each way on the second pair with netem; false when this kernel has no netem. */
function netemDelay(delayMs: number): boolean {
  const netem = ['root', 'netem', 'delay', `${delayMs}ms`, 'limit', '100000']
  if (!run(['tc', '-n', LINK_NS, 'qdisc', 'add', 'dev', IF.linkDown, ...netem], {ok: true}).ok) return false
  tc(ROOM_NS, 'qdisc', 'add', 'dev', IF.room, ...netem)
  return true
}

/** The delay each way by the TUN delay line: start it, route both directions of the link namespace through it. */
async function delayLine(delayMs: number): Promise<ChildProcess> {
  const script = join(packageRoot(), 'bench/delay-line.py')
  // nsenter execs python in place: the pid is the delay line's.
  const child = spawn('nsenter', [`--net=/run/netns/${LINK_NS}`, 'python3', script, IF.delay, String(delayMs)], {stdio: ['ignore', 'pipe', 'pipe']})
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`WAN bench: the delay line did not start within 10 s: ${err}`)), 10_000)
    child.stdout!.once('data', () => {
      clearTimeout(timer)
      resolve()
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`WAN bench: the delay line exited with ${code}: ${err}`))
    })
  }).catch(async (e) => {
    await stopChild(child)
    throw e
  })
  child.stdout!.resume()
  ip(LINK_NS, 'addr', 'add', `${ADDR.delay}/32`, 'dev', IF.delay)
  ip(LINK_NS, 'link', 'set', IF.delay, 'up')
  ip(LINK_NS, 'route', 'add', 'default', 'dev', IF.delay, 'table', DELAY_TABLE)
  // From either pair into the delay line; what it writes back arrives on fwand and takes the main table.
  ip(LINK_NS, 'rule', 'add', 'pref', '100', 'iif', IF.linkUp, 'lookup', DELAY_TABLE)
  ip(LINK_NS, 'rule', 'add', 'pref', '101', 'iif', IF.linkDown, 'lookup', DELAY_TABLE)
  return child
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const gone = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await gone
  clearTimeout(timer)
}

/** One TCP round trip: connect to a closed port of the first host and time the refusal. */
async function rtt(address: string): Promise<number> {
  const samples: number[] = []
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint()
    await new Promise<void>((resolve, reject) => {
      const s = connect({host: address, port: 9})
      s.once('connect', () => {
        s.destroy()
        reject(new Error(`WAN bench: ${address}:9 is open; the round trip is measured against a closed port`))
      })
      s.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? resolve() : reject(e)))
    })
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return median(samples)
}

/** One WAN bench at a time on this machine (the names are fixed): the owner's pid and start time. */
const LOCK = '/run/fleet-wan-bench.lock'
function takeLock(): () => void {
  const me = JSON.stringify({pid: process.pid, startTime: readProc(process.pid)?.startTime ?? 0})
  try {
    writeFileSync(LOCK, me, {flag: 'wx', mode: 0o600})
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    let owner: {pid: number; startTime: number} | undefined
    try {
      owner = JSON.parse(readFileSync(LOCK, 'utf8')) as {pid: number; startTime: number}
    } catch {
      owner = undefined
    }
    if (owner && isAlive(owner.pid, owner.startTime)) throw new Error(`WAN bench: another one runs on this machine (pid ${owner.pid}, ${LOCK})`)
    writeFileSync(LOCK, me, {mode: 0o600})
  }
  return () => rmSync(LOCK, {force: true})
}

const counter = (name: 'tx_bytes' | 'rx_bytes') => Number(readFileSync(`/sys/class/net/${IF.root}/statistics/${name}`, 'utf8'))

/** The WAN bench; needs root (namespaces, accounts, sshd). */
export async function wanBench(opts: WanOptions): Promise<WanResult> {
  if (process.getuid?.() !== 0) throw new Error('WAN bench: needs root (network namespaces, tc, accounts, sshd servers)')
  for (const tool of ['ip', 'tc', 'nsenter']) if (!run(['sh', '-c', `command -v ${tool}`], {ok: true}).ok) throw new Error(`WAN bench: ${tool} is missing (apt-get install iproute2 util-linux)`)
  const unlock = takeLock()
  try {
    return await wanBenchLocked(opts)
  } finally {
    unlock()
  }
}

async function wanBenchLocked(opts: WanOptions): Promise<WanResult> {
  const log = opts.log ?? (() => undefined)
  const n = opts.hosts
  const delayMs = opts.delayMs ?? 60
  const mbit = opts.mbit ?? 20
  const fleetArgs = opts.fleetArgs ?? []
  const leftovers = [rootLinkExists() && IF.root, nsExists(LINK_NS) && LINK_NS, nsExists(ROOM_NS) && ROOM_NS].filter(Boolean)
  if (leftovers.length) {
    log(`WAN: removing what an earlier run left: ${leftovers.join(', ')}`)
    const left = teardownNetwork()
    if (left.length) throw new Error(`WAN bench: could not remove ${left.join(', ')} left by an earlier run`)
  }
  checkAddressSpace()
  const addresses = Array.from({length: n}, (_, k) => wanHostAddress(k + 1))

  let line: ChildProcess | undefined
  let set: LocalHostSet | undefined
  let disk: HostDisk | undefined
  // A run stopped half-way (exit, SIGINT, SIGTERM) still takes the network down; the hosts' own exit hook stops their sshds.
  const emergency = () => {
    if (line?.pid !== undefined && line.exitCode === null) line.kill('SIGKILL')
    teardownNetwork()
  }
  const onSignal = (sig: NodeJS.Signals) => {
    // First what this process started (the method running now, the sshds and their sessions)
    // while the link, delay line included, still carries their goodbyes (Ansible's ssh masters
    // outlive the run otherwise); then the delay line and the network.
    for (const p of descendants(process.pid)) if (p.pid !== line?.pid) signalPid(p.pid, 'SIGTERM')
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000)
    emergency()
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  process.once('exit', emergency)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    log(`WAN ${n} hosts: namespaces, links, ${mbit} Mbit/s each way on the instructor's link`)
    setupNetwork(mbit, addresses)
    let delay: WanResult['delay'] = 'netem'
    if (!netemDelay(delayMs)) {
      delay = 'delay-line'
      log(`WAN: tc netem is not available (no sch_netem in this kernel); ${delayMs} ms each way by the TUN delay line`)
      line = await delayLine(delayMs)
    }
    log(`WAN ${n} hosts: starting the hosts' sshds in ${ROOM_NS}`)
    disk = mountHostDisk(opts.prefix ?? 'fwn')
    set = await startLocalHosts({count: n, prefix: opts.prefix ?? 'fwn', homeRoot: disk.homeRoot, maxSessions: 64, logLevel: 'ERROR', startTimeoutMs: 120_000, netns: {name: ROOM_NS, addresses}})
    const rttMs = await rtt(addresses[0])
    log(`WAN ${n} hosts: round trip ${rttMs.toFixed(1)} ms (${2 * delayMs} ms added)`)
    if (rttMs < 2 * delayMs * 0.9) throw new Error(`WAN bench: the round trip is ${rttMs.toFixed(1)} ms, less than the ${2 * delayMs} ms added: the delay is not in the path`)
    const fan = await runMethods(set, {
      rounds: opts.rounds,
      methods: opts.methods,
      label: `WAN ${n} hosts`,
      log,
      floor: false,
      accounting: opts.accounting,
      fleetArgs,
      counters: () => ({tx: counter('tx_bytes'), rx: counter('rx_bytes')}),
    })
    return {hosts: n, rounds: opts.rounds, delayMs, mbit, delay, fleetArgs, rttMs, fan}
  } finally {
    try {
      await set?.stop()
      await stopChild(line)
      disk?.unmount()
    } finally {
      const left = teardownNetwork()
      process.removeListener('exit', emergency)
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
      if (left.length) log(`WAN: could not remove ${left.join(', ')}`)
    }
  }
}
