/**
 * Local loopback "jumphosts": N real OpenSSH servers on this machine, one per
 * Unix account, for the integration tests, the benchmarks and `fleet demo`.
 *
 * Layout:
 * - account `${prefix}001`… (created once, reused; password field `*`), home under
 *   `homeRoot` (wiped and recreated empty at every start), passwordless sudo through
 *   one file in /etc/sudoers.d per set;
 * - address 127.B.X.Y port `port` (default 2022): B = 77 + slot (one slot per set
 *   running at the same time on this machine), X.Y = host index (254 per X), so a
 *   set scales to 65,024 hosts and every host has the same port;
 * - per host directory under `baseDir`: sshd_config, ed25519 host key, pid file, log;
 * - one client key pair for the whole set (or one per host), in `baseDir/client/`.
 *
 * Every sshd is our child, run with `-D -e -f CONFIG`; we only ever signal those pids
 * (and their sshd descendants, the per-connection processes). A small state file per
 * set in /run/fleet-localhosts lets a later start clean up after a crashed one.
 */
import {spawn, execFile, type ChildProcess} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {chmod, chown, mkdir, mkdtemp, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {endianness, tmpdir} from 'node:os'
import {join} from 'node:path'

import {UserError} from '../errors/user-error.js'
import {cmdline, descendants, isAlive, processTable, readProc, readUid, signalPid, sleep, waitGone} from './procs.js'
import {generateEd25519} from './keys.js'
import {ensureAccounts, systemTool, type Account} from './users.js'

export interface LocalHostsOptions {
  /** How many hosts (1..65024). */
  count: number
  /**
   * Account name prefix; accounts are `${prefix}001`… One running set per prefix.
   * Default `fleet-h`, or `fleet-vN-` in vitest worker N.
   */
  prefix?: string
  /** Where configs, host keys, logs and the client key go. Default: a new temp dir, removed by stop(). */
  baseDir?: string
  /** Parent of the accounts' homes (stable across runs so accounts can be reused). Default /var/lib/fleet-localhosts/home. */
  homeRoot?: string
  /** TCP port every host listens on (each on its own address). Default 2022. */
  port?: number
  /** One client key per host instead of one for the set. */
  perHostKeys?: boolean
  /** sshd binary. Default /usr/sbin/sshd. */
  sshdPath?: string
  /** sshd MaxSessions (channels per connection). Default 64. */
  maxSessions?: number
  /** sshd LogLevel. Default INFO. */
  logLevel?: 'QUIET' | 'FATAL' | 'ERROR' | 'INFO' | 'VERBOSE' | 'DEBUG' | 'DEBUG1' | 'DEBUG2' | 'DEBUG3'
  /** How long to wait for all sshds to listen. Default 30 s. */
  startTimeoutMs?: number
  /** Give the accounts passwordless sudo. Default true. */
  sudo?: boolean
  /** More sshd command-line arguments, e.g. ['-o', 'LogLevel=DEBUG3']. */
  sshdArgs?: string[]
}

export interface LocalHost {
  /** 1-based position in the set. */
  index: number
  /** Host name for the hosts file, e.g. `h001`. */
  name: string
  /** Unix account, e.g. `fleet-h001`. */
  user: string
  uid: number
  gid: number
  address: string
  port: number
  /** OpenSSH known_hosts name: `[address]:port`. */
  hostId: string
  home: string
  /** Private key (OpenSSH format, mode 0600) that logs in as `user`. */
  identityFile: string
  /** `ssh-ed25519 AAAA…` (no comment). Changes with rotateHostKey(). */
  hostKeyPublic: string
  hostKeyFile: string
  /** pid of the listening sshd; undefined while the host is stopped. */
  sshdPid: number | undefined
  /** This host's directory: sshd_config, host key, pid file, sshd.log. */
  dir: string
  configFile: string
  logFile: string
}

export interface LocalHostSet {
  readonly hosts: LocalHost[]
  readonly baseDir: string
  readonly prefix: string
  /** The client private key for the whole set (the first host's when perHostKeys). */
  readonly identityFile: string
  /** Milliseconds spent per phase of the start. */
  readonly timings: {accountsMs: number; filesMs: number; sshdMs: number; totalMs: number}
  /** Stop every sshd this set started (and their sessions), remove baseDir (if we made it), the homes and the sudoers file. */
  stop(opts?: {keepHomes?: boolean; killUserProcesses?: boolean}): Promise<void>
  /** SIGKILL the host's per-connection sshd processes (not the listener): every open connection drops. Returns the pids killed. */
  killSessions(host: LocalHost | number): number[]
  /** pids of the host's per-connection sshd processes. */
  sessionPids(host: LocalHost | number): number[]
  /** New ed25519 host key, then restart that host's listener. Open connections stay. Returns the new public key. */
  rotateHostKey(host: LocalHost | number): Promise<string>
  /** Stop the host's listener and drop its connections: the host becomes unreachable (connection refused). */
  stopHost(host: LocalHost | number): Promise<void>
  /** Start a stopped host again (same key, same address). */
  startHost(host: LocalHost | number): Promise<void>
  /** fleet hosts-file lines: `user@address:port name=NAME identity=PATH`. */
  hostsFileText(opts?: {identity?: boolean}): string
  /** OpenSSH known_hosts lines with the hosts' current keys: `[address]:port ssh-ed25519 AAAA…`. */
  knownHostsText(): string
}

const DEFAULT_PREFIX = 'fleet-h'
const DEFAULT_PORT = 2022
const DEFAULT_HOME_ROOT = '/var/lib/fleet-localhosts/home'
const FIRST_OCTET = 77
const MAX_SLOTS = 100
const PER_X = 254
export const MAX_HOSTS = 256 * PER_X

/** Loopback address of host `index` (1-based) in slot `slot`. */
export function localHostAddress(slot: number, index: number): string {
  const i = index - 1
  return `127.${FIRST_OCTET + slot}.${Math.floor(i / PER_X)}.${(i % PER_X) + 1}`
}

// ---------------------------------------------------------------------------
// State files: which sets are running, so a later start can clean up a crash.

interface SlotState {
  pid: number
  startTime: number
  prefix: string
  baseDir: string
  ownsBaseDir: boolean
  sudoersFile?: string
  sshd: Array<{pid: number; startTime: number; config: string}>
}

function runDir(): string {
  const dir = existsSync('/run') ? '/run/fleet-localhosts' : join(tmpdir(), 'fleet-localhosts-run')
  mkdirSync(dir, {recursive: true, mode: 0o700})
  return dir
}

const selfStart = readProc(process.pid)?.startTime ?? 0

function ownerAlive(state: {pid: number; startTime: number}): boolean {
  return isAlive(state.pid, state.startTime)
}

/** Kill what a dead owner left behind: its sshds (checked by command line), its dirs and files. */
function cleanupStale(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const file = join(dir, entry)
    if (entry.endsWith('.lock')) {
      try {
        const owner = JSON.parse(readFileSync(file, 'utf8')) as {pid: number; startTime: number}
        if (!ownerAlive(owner)) unlinkSync(file)
      } catch {
        rmSync(file, {force: true})
      }
      continue
    }
    if (!/^slot-\d+\.json$/.test(entry)) continue
    let state: SlotState
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as SlotState
    } catch {
      continue // being written right now by its owner
    }
    if (ownerAlive(state)) continue
    killSshds(state.sshd)
    if (state.ownsBaseDir) rmSync(state.baseDir, {recursive: true, force: true})
    if (state.sudoersFile) rmSync(state.sudoersFile, {force: true})
    rmSync(file, {force: true})
    rmSync(join(dir, `prefix-${state.prefix}.lock`), {force: true})
  }
}

function killSshds(list: Array<{pid: number; startTime: number; config: string}>): void {
  const table = processTable()
  for (const s of list) {
    const info = table.get(s.pid)
    if (!info || info.startTime !== s.startTime || !cmdline(s.pid).includes(s.config)) continue
    for (const d of descendants(s.pid, table)) if (d.comm === 'sshd') signalPid(d.pid, 'SIGKILL')
    signalPid(s.pid, 'SIGKILL')
  }
}

function tryCreate(file: string, content: string): boolean {
  try {
    writeFileSync(file, content, {flag: 'wx', mode: 0o600})
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

// ---------------------------------------------------------------------------
// Preflight

let sshdVersionCache: [number, number] | undefined
async function sshdVersion(sshd: string): Promise<[number, number]> {
  if (sshdVersionCache) return sshdVersionCache
  const out = await new Promise<string>((resolve) => {
    execFile(sshd, ['-V'], (_err, stdout, stderr) => resolve(`${stdout}${stderr}`))
  })
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(out)
  sshdVersionCache = m ? [Number(m[1]), Number(m[2])] : [0, 0]
  return sshdVersionCache
}

function preflight(sshd: string, sudo: boolean): void {
  if (process.getuid?.() !== 0) {
    throw new UserError('Local hosts need root: they create Unix accounts, sudoers entries and sshd servers. Run as root (for example with sudo).')
  }
  if (!existsSync(sshd)) {
    throw new UserError(`${sshd} was not found: local hosts run real OpenSSH servers. Install it with: apt-get install openssh-server`)
  }
  if (sudo && (!systemTool('sudo') || !systemTool('visudo'))) {
    throw new UserError('sudo was not found: local hosts give their accounts passwordless sudo. Install it with: apt-get install sudo')
  }
}

function sshdConfig(h: LocalHost, opts: {maxSessions: number; logLevel: string; penalties: boolean}): string {
  return [
    '# fleet local host; generated, removed on stop',
    `ListenAddress ${h.address}:${h.port}`,
    `HostKey ${h.hostKeyFile}`,
    `PidFile ${join(h.dir, 'sshd.pid')}`,
    `AllowUsers ${h.user}`,
    'AuthorizedKeysFile .ssh/authorized_keys',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'PermitRootLogin no',
    'UsePAM no',
    'StrictModes yes',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowAgentForwarding no',
    // ProxyJump through a local host needs direct-tcpip channels.
    'AllowTcpForwarding yes',
    'MaxStartups 200:30:400',
    `MaxSessions ${opts.maxSessions}`,
    'MaxAuthTries 10',
    'LoginGraceTime 30',
    'Subsystem sftp internal-sftp',
    `LogLevel ${opts.logLevel}`,
    // OpenSSH >= 9.8 penalises a source address after crashes and failed logins; every
    // test connection comes from loopback, so a test of "auth fails" would lock out the rest.
    ...(opts.penalties ? ['PerSourcePenalties no'] : []),
    '',
  ].join('\n')
}

function publicOf(openssh: string): string {
  return openssh.trim().split(/\s+/).slice(0, 2).join(' ')
}

// ---------------------------------------------------------------------------
// Waiting for listeners: read /proc/net/tcp (no connection, so no "[preauth]" noise).

function procNetHex(address: string, port: number): string {
  const octets = address.split('.').map(Number)
  const ordered = endianness() === 'LE' ? octets.reverse() : octets
  const a = ordered.map((o) => o.toString(16).padStart(2, '0')).join('').toUpperCase()
  return `${a}:${port.toString(16).padStart(4, '0').toUpperCase()}`
}

async function listening(): Promise<Set<string>> {
  const text = await readFile('/proc/net/tcp', 'utf8')
  const out = new Set<string>()
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length > 3 && f[3] === '0A') out.add(f[1])
  }
  return out
}

function logTail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    return lines.slice(-5).join(' | ')
  } catch {
    return '(no log)'
  }
}

// ---------------------------------------------------------------------------

const liveSets = new Set<LocalHostSetImpl>()
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const set of liveSets) set.emergencyStop()
  })
}

class LocalHostSetImpl implements LocalHostSet {
  readonly hosts: LocalHost[] = []
  readonly timings = {accountsMs: 0, filesMs: 0, sshdMs: 0, totalMs: 0}
  identityFile = ''
  private children = new Map<number, ChildProcess>()
  private startTimes = new Map<number, number>()
  private sudoersFile?: string
  private stopped = false

  constructor(
    readonly prefix: string,
    readonly baseDir: string,
    private readonly ownsBaseDir: boolean,
    private readonly slot: number,
    private readonly stateDir: string,
    private readonly sshdPath: string,
    private readonly sshdArgs: string[],
  ) {}

  private get stateFile(): string {
    return join(this.stateDir, `slot-${this.slot}.json`)
  }

  private get prefixLock(): string {
    return join(this.stateDir, `prefix-${this.prefix}.lock`)
  }

  setSudoersFile(file: string): void {
    this.sudoersFile = file
    this.saveState()
  }

  saveState(): void {
    const state: SlotState = {
      pid: process.pid,
      startTime: selfStart,
      prefix: this.prefix,
      baseDir: this.baseDir,
      ownsBaseDir: this.ownsBaseDir,
      sudoersFile: this.sudoersFile,
      sshd: this.hosts
        .filter((h) => h.sshdPid !== undefined)
        .map((h) => ({pid: h.sshdPid!, startTime: this.startTimes.get(h.index) ?? 0, config: h.configFile})),
    }
    // write + rename: a reader never sees a half-written file
    const tmp = `${this.stateFile}.tmp`
    writeFileSync(tmp, JSON.stringify(state), {mode: 0o600})
    renameSync(tmp, this.stateFile)
  }

  host(h: LocalHost | number): LocalHost {
    const found = typeof h === 'number' ? this.hosts[h - 1] : this.hosts.find((x) => x === h || x.index === h.index)
    if (!found) throw new Error(`no local host ${typeof h === 'number' ? h : h.name} in this set`)
    return found
  }

  /** Spawn the listeners of `hosts` (not running ones) and wait until all listen. */
  async launch(hosts: LocalHost[], timeoutMs: number): Promise<void> {
    const pending = new Map<string, LocalHost>()
    const exited = new Map<number, number | null>()
    for (const h of hosts) {
      if (h.sshdPid !== undefined) continue
      const fd = openSync(h.logFile, 'a', 0o600)
      let child: ChildProcess
      try {
        child = spawn(this.sshdPath, ['-D', '-e', '-f', h.configFile, ...this.sshdArgs], {
          stdio: ['ignore', fd, fd],
          env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C'},
        })
      } finally {
        closeSync(fd)
      }
      child.unref()
      const pid = child.pid
      if (pid === undefined) throw new Error(`could not start ${this.sshdPath} for ${h.name}`)
      h.sshdPid = pid
      this.children.set(h.index, child)
      this.startTimes.set(h.index, readProc(pid)?.startTime ?? 0)
      child.once('exit', (code) => {
        exited.set(h.index, code)
        if (this.children.get(h.index) === child) {
          this.children.delete(h.index)
          if (h.sshdPid === pid) h.sshdPid = undefined
        }
      })
      pending.set(procNetHex(h.address, h.port), h)
    }
    this.saveState()

    const deadline = Date.now() + timeoutMs
    while (pending.size > 0) {
      const up = await listening()
      for (const [key, h] of pending) {
        if (up.has(key)) pending.delete(key)
        else if (exited.has(h.index)) {
          throw new Error(`sshd for ${h.name} (${h.address}:${h.port}) exited with code ${exited.get(h.index)} before listening: ${logTail(h.logFile)}`)
        }
      }
      if (pending.size === 0) break
      if (Date.now() > deadline) {
        const h = pending.values().next().value!
        throw new Error(`${pending.size} sshd(s) did not listen within ${timeoutMs} ms, e.g. ${h.name} on ${h.address}:${h.port}: ${logTail(h.logFile)}`)
      }
      await sleep(15)
    }
  }

  sessionPids(hostRef: LocalHost | number): number[] {
    const h = this.host(hostRef)
    if (h.sshdPid === undefined) return []
    return descendants(h.sshdPid)
      .filter((p) => p.comm === 'sshd')
      .map((p) => p.pid)
  }

  killSessions(hostRef: LocalHost | number): number[] {
    const pids = this.sessionPids(hostRef)
    for (const pid of pids) signalPid(pid, 'SIGKILL')
    return pids
  }

  private async stopListener(h: LocalHost): Promise<void> {
    const pid = h.sshdPid
    if (pid === undefined) return
    const start = this.startTimes.get(h.index)
    if (isAlive(pid, start)) {
      signalPid(pid, 'SIGTERM')
      if (!(await waitGone(pid, start, 3000))) {
        signalPid(pid, 'SIGKILL')
        await waitGone(pid, start, 2000)
      }
    }
    if (h.sshdPid === pid) h.sshdPid = undefined
    this.children.delete(h.index)
  }

  async stopHost(hostRef: LocalHost | number): Promise<void> {
    const h = this.host(hostRef)
    this.killSessions(h)
    await this.stopListener(h)
    this.saveState()
  }

  async startHost(hostRef: LocalHost | number): Promise<void> {
    await this.launch([this.host(hostRef)], 15_000)
  }

  async rotateHostKey(hostRef: LocalHost | number): Promise<string> {
    const h = this.host(hostRef)
    const key = generateEd25519(`${h.user}@${h.address}`)
    await writeFile(`${h.hostKeyFile}.new`, key.privateKey, {mode: 0o600})
    await rename(`${h.hostKeyFile}.new`, h.hostKeyFile)
    await writeFile(`${h.hostKeyFile}.pub`, key.publicKey + '\n', {mode: 0o644})
    h.hostKeyPublic = publicOf(key.publicKey)
    await this.stopListener(h)
    await this.launch([h], 15_000)
    return h.hostKeyPublic
  }

  hostsFileText(opts: {identity?: boolean} = {}): string {
    const identity = opts.identity ?? true
    return this.hosts
      .map((h) => `${h.user}@${h.address}:${h.port} name=${h.name}${identity ? ` identity=${h.identityFile}` : ''}\n`)
      .join('')
  }

  knownHostsText(): string {
    return this.hosts.map((h) => `${h.hostId} ${h.hostKeyPublic}\n`).join('')
  }

  async stop(opts: {keepHomes?: boolean; killUserProcesses?: boolean} = {}): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const h of this.hosts) this.killSessions(h)
    await Promise.all(this.hosts.map((h) => this.stopListener(h)))
    if (opts.killUserProcesses ?? true) this.killUserProcesses()
    if (this.sudoersFile) await rm(this.sudoersFile, {force: true})
    if (!opts.keepHomes) await Promise.all(this.hosts.map((h) => rm(h.home, {recursive: true, force: true})))
    if (this.ownsBaseDir) await rm(this.baseDir, {recursive: true, force: true})
    this.release()
  }

  /**
   * Processes still running as one of the set's accounts (a detached agent, a stray
   * `sleep`): they can only have come in through this set's sshds. SIGKILL them so
   * the next start gets clean homes.
   */
  private killUserProcesses(): void {
    const uids = new Set(this.hosts.map((h) => h.uid))
    for (const p of processTable().values()) {
      const uid = readUid(p.pid)
      if (uid !== undefined && uids.has(uid)) signalPid(p.pid, 'SIGKILL')
    }
  }

  private release(): void {
    liveSets.delete(this)
    rmSync(this.stateFile, {force: true})
    rmSync(this.prefixLock, {force: true})
  }

  /** Synchronous best effort, from process.on('exit'). */
  emergencyStop(): void {
    if (this.stopped) return
    this.stopped = true
    try {
      killSshds(
        this.hosts
          .filter((h) => h.sshdPid !== undefined)
          .map((h) => ({pid: h.sshdPid!, startTime: this.startTimes.get(h.index) ?? 0, config: h.configFile})),
      )
      if (this.sudoersFile) rmSync(this.sudoersFile, {force: true})
      if (this.ownsBaseDir) rmSync(this.baseDir, {recursive: true, force: true})
    } finally {
      this.release()
    }
  }
}

async function installSudoers(file: string, users: string[]): Promise<void> {
  const visudo = systemTool('visudo')!
  const text =
    '# fleet local hosts: passwordless sudo for the loopback test accounts; removed on stop\n' +
    users.map((u) => `${u} ALL=(ALL:ALL) NOPASSWD: ALL\n`).join('')
  await mkdir('/etc/sudoers.d', {recursive: true, mode: 0o750})
  // sudo ignores names in sudoers.d that end in "~": stage there, check, rename into place.
  const staged = `${file}~`
  await writeFile(staged, text, {mode: 0o440})
  const check = await new Promise<{ok: boolean; out: string}>((resolve) => {
    execFile(visudo, ['-cf', staged], (err, stdout, stderr) => resolve({ok: !err, out: `${stdout}${stderr}`}))
  })
  if (!check.ok) {
    await rm(staged, {force: true})
    throw new Error(`visudo rejected the generated sudoers file: ${check.out.trim()}`)
  }
  await rename(staged, file)
}

/** Start `count` local OpenSSH hosts. See the module comment for the layout. */
export async function startLocalHosts(opts: LocalHostsOptions): Promise<LocalHostSet> {
  const t0 = Date.now()
  // Under vitest each worker gets its own default prefix, so test files running at the
  // same time do not collide (one running set per prefix).
  const poolId = process.env.VITEST_POOL_ID
  const prefix = opts.prefix ?? (poolId && /^\d+$/.test(poolId) ? `fleet-v${poolId}-` : DEFAULT_PREFIX)
  const port = opts.port ?? DEFAULT_PORT
  const sshdPath = opts.sshdPath ?? '/usr/sbin/sshd'
  const useSudo = opts.sudo ?? true
  const {count} = opts
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new UserError(`local hosts: count must be a whole number from 1 to ${MAX_HOSTS}, got ${count}`)
  }
  const width = Math.max(3, String(count).length)
  if (!/^[a-z_][a-z0-9_-]*$/.test(prefix) || prefix.length + width > 32) {
    throw new UserError(`local hosts: prefix "${prefix}" must be lower-case letters, digits, "-" or "_", start with a letter, and leave room for ${width} digits in a 32-character user name`)
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`local hosts: port must be 1..65535, got ${port}`)
  preflight(sshdPath, useSudo)

  const stateDir = runDir()
  cleanupStale(stateDir)
  const owner = JSON.stringify({pid: process.pid, startTime: selfStart})
  const prefixLock = join(stateDir, `prefix-${prefix}.lock`)
  if (!tryCreate(prefixLock, owner)) {
    throw new UserError(`local hosts with prefix "${prefix}" are already running (see ${prefixLock}); stop them or choose another prefix`)
  }
  let slot = -1
  for (let s = 0; s < MAX_SLOTS; s++) {
    if (tryCreate(join(stateDir, `slot-${s}.json`), JSON.stringify({pid: process.pid, startTime: selfStart, prefix, baseDir: '', ownsBaseDir: false, sshd: []}))) {
      slot = s
      break
    }
  }
  if (slot < 0) {
    rmSync(prefixLock, {force: true})
    throw new UserError(`local hosts: all ${MAX_SLOTS} address blocks are in use (see ${stateDir})`)
  }

  let baseDir: string
  let ownsBaseDir: boolean
  try {
    if (opts.baseDir) {
      baseDir = opts.baseDir
      ownsBaseDir = false
      await mkdir(baseDir, {recursive: true, mode: 0o755})
    } else {
      baseDir = await mkdtemp(join(tmpdir(), 'fleet-localhosts-'))
      ownsBaseDir = true
    }
  } catch (err) {
    rmSync(join(stateDir, `slot-${slot}.json`), {force: true})
    rmSync(prefixLock, {force: true})
    throw err
  }
  const set = new LocalHostSetImpl(prefix, baseDir, ownsBaseDir, slot, stateDir, sshdPath, opts.sshdArgs ?? [])
  liveSets.add(set)
  installExitHook()

  try {
    const homeRoot = opts.homeRoot ?? DEFAULT_HOME_ROOT
    await mkdir(homeRoot, {recursive: true, mode: 0o755})
    const specs = Array.from({length: count}, (_, k) => {
      const index = k + 1
      const digits = String(index).padStart(width, '0')
      return {index, name: `h${digits}`, user: `${prefix}${digits}`, home: join(homeRoot, `${prefix}${digits}`)}
    })

    // Accounts (batch) and the client key(s) while that runs.
    const tAcc = Date.now()
    const accountsP = ensureAccounts(specs.map((s) => ({name: s.user, home: s.home})))
    const clientDir = join(baseDir, 'client')
    await mkdir(clientDir, {recursive: true, mode: 0o700})
    const clientKeys = Array.from({length: opts.perHostKeys ? count : 1}, (_, k) =>
      generateEd25519(`fleet-localhosts-${prefix}${opts.perHostKeys ? `-${k + 1}` : ''}`),
    )
    const keyFiles = await Promise.all(
      clientKeys.map(async (key, k) => {
        const file = join(clientDir, opts.perHostKeys ? `id_ed25519_${specs[k].name}` : 'id_ed25519')
        await writeFile(file, key.privateKey, {mode: 0o600})
        await writeFile(`${file}.pub`, key.publicKey + '\n', {mode: 0o644})
        return file
      }),
    )
    set.identityFile = keyFiles[0]
    const accounts: Map<string, Account> = await accountsP
    set.timings.accountsMs = Date.now() - tAcc

    // Per-host files, all in parallel.
    const tFiles = Date.now()
    const [major, minor] = await sshdVersion(sshdPath)
    const penalties = major > 9 || (major === 9 && minor >= 8)
    for (const s of specs) {
      const acc = accounts.get(s.user)!
      const dir = join(baseDir, s.name)
      set.hosts.push({
        index: s.index,
        name: s.name,
        user: s.user,
        uid: acc.uid,
        gid: acc.gid,
        address: localHostAddress(slot, s.index),
        port,
        hostId: port === 22 ? localHostAddress(slot, s.index) : `[${localHostAddress(slot, s.index)}]:${port}`,
        home: s.home,
        identityFile: keyFiles[opts.perHostKeys ? s.index - 1 : 0],
        hostKeyPublic: '',
        hostKeyFile: join(dir, 'ssh_host_ed25519_key'),
        sshdPid: undefined,
        dir,
        configFile: join(dir, 'sshd_config'),
        logFile: join(dir, 'sshd.log'),
      })
    }
    await Promise.all(
      set.hosts.map(async (h) => {
        const hostKey = generateEd25519(`${h.user}@${h.address}`)
        h.hostKeyPublic = publicOf(hostKey.publicKey)
        await mkdir(h.dir, {recursive: true, mode: 0o700})
        await Promise.all([
          writeFile(h.hostKeyFile, hostKey.privateKey, {mode: 0o600}),
          writeFile(`${h.hostKeyFile}.pub`, hostKey.publicKey + '\n', {mode: 0o644}),
          writeFile(h.configFile, sshdConfig(h, {maxSessions: opts.maxSessions ?? 64, logLevel: opts.logLevel ?? 'INFO', penalties}), {mode: 0o600}),
        ])
        // A clean, empty home at every start: no dotfiles, nothing from the last run.
        await rm(h.home, {recursive: true, force: true})
        await mkdir(join(h.home, '.ssh'), {recursive: true, mode: 0o700})
        const pub = clientKeys[opts.perHostKeys ? h.index - 1 : 0].publicKey
        await writeFile(join(h.home, '.ssh', 'authorized_keys'), pub + '\n', {mode: 0o600})
        await chmod(h.home, 0o755)
        await chmod(join(h.home, '.ssh'), 0o700)
        await Promise.all([
          chown(h.home, h.uid, h.gid),
          chown(join(h.home, '.ssh'), h.uid, h.gid),
          chown(join(h.home, '.ssh', 'authorized_keys'), h.uid, h.gid),
        ])
      }),
    )
    if (useSudo) {
      const file = `/etc/sudoers.d/fleet-localhosts-${prefix}`
      set.setSudoersFile(file)
      await installSudoers(file, set.hosts.map((h) => h.user))
    }
    // sshd insists on its privilege separation directory.
    await mkdir('/run/sshd', {recursive: true, mode: 0o755})
    const check = await new Promise<{ok: boolean; out: string}>((resolve) => {
      execFile(sshdPath, ['-t', '-f', set.hosts[0].configFile], (err, stdout, stderr) => resolve({ok: !err, out: `${stdout}${stderr}`}))
    })
    if (!check.ok) throw new Error(`sshd rejected the generated configuration ${set.hosts[0].configFile}: ${check.out.trim()}`)
    set.timings.filesMs = Date.now() - tFiles

    const tSshd = Date.now()
    await set.launch(set.hosts, opts.startTimeoutMs ?? 30_000)
    set.timings.sshdMs = Date.now() - tSshd
    set.timings.totalMs = Date.now() - t0
    return set
  } catch (err) {
    await set.stop({keepHomes: true}).catch(() => undefined)
    throw err
  }
}
