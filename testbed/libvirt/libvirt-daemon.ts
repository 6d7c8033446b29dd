/**
 * Start the system libvirt daemons for system tests, directly (no systemd).
 *
 * Findings behind this file (Debian 12, libvirt 9.0, no systemd, see /tmp/libvirt-notes.md):
 * - Debian 12 ships only the monolithic `libvirtd` (+ `virtlogd`, `virtlockd`); there are no
 *   modular daemons (virtqemud, virtnetworkd, ...) in the packages.
 * - A privileged libvirtd started without systemd does NOT spawn virtlogd on demand: starting a
 *   domain then fails with "Failed to connect socket to '/run/libvirt/virtlogd-sock'". So
 *   virtlogd is started first. virtlockd is not needed (qemu.conf has no lock_manager).
 * - libvirtd runs here in the foreground as our child (stderr to a log file), so we know its pid
 *   for sure and reap it ourselves; first start takes ~5 s (QEMU capabilities probe, cached in
 *   /var/cache/libvirt/qemu afterwards), SIGTERM stops it in well under a second.
 * - Stopping libvirtd does not stop running domains or the dnsmasq of active networks: clean up
 *   domains and networks before calling stop().
 * - Without udev, /dev/kvm may be 0600 root, and libvirt then re-probes QEMU for ~50 s at every
 *   call: the helper applies udev's rule before it starts libvirtd, and undoes it (kvm-device.ts).
 *
 * Only daemons this helper started are stopped, by their pid. If `virsh -c qemu:///system` already
 * answers (a system libvirtd, another test file), nothing is started.
 *
 * Several test files (vitest workers) may use the daemons at once: each startLibvirt() registers
 * a user file in stateDir/users, and the daemons the helper started (recorded with their pids in
 * stateDir/daemons.json) are stopped by whichever stop() comes last, so the file that happened to
 * start them does not pull libvirtd away from a file still running.
 */
import {spawn, execFile, type ChildProcess} from 'node:child_process'
import {accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {createConnection} from 'node:net'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {openKvmToQemuGroup, restoreKvm} from './kvm-device.js'

export const SYSTEM_URI = 'qemu:///system'

/** Which Debian 12 package(s) to install for each binary the libvirt system tests use. */
export const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  virsh: 'libvirt-clients',
  libvirtd: 'libvirt-daemon-system',
  virtlogd: 'libvirt-daemon-system',
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  dnsmasq: 'dnsmasq-base',
  iptables: 'iptables',
  ip: 'iproute2',
  ipmitool: 'ipmitool',
  // virshbmc imports the libvirt module, but python3-pyghmi does not depend on python3-libvirt.
  virshbmc: 'python3-pyghmi python3-libvirt',
}

export class MissingBinaryError extends Error {
  constructor(
    readonly binary: string,
    readonly debianPackages: string,
  ) {
    super(`${binary} not found (searched PATH, /usr/sbin, /sbin): install it with: apt-get install ${debianPackages}`)
    this.name = 'MissingBinaryError'
  }
}

/** Absolute path of a binary (PATH plus the sbin directories), or a MissingBinaryError naming its package. */
export function requireBinary(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin']
  for (const dir of dirs) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // keep looking
    }
  }
  throw new MissingBinaryError(name, DEBIAN_PACKAGE[name] ?? name)
}

export interface RunResult {
  stdout: string
  stderr: string
}

/** Run a command without a shell; reject with its stderr on a non-zero exit or a timeout. */
export function run(file: string, args: readonly string[], opts: {timeoutMs?: number; env?: NodeJS.ProcessEnv} = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, {timeout: opts.timeoutMs ?? 30_000, env: opts.env, maxBuffer: 16 * 1024 * 1024}, (err, stdout, stderr) => {
      if (err) {
        const detail = String(stderr).trim() || String(stdout).trim() || err.message
        const why = err.killed ? `timed out after ${opts.timeoutMs ?? 30_000} ms` : `failed`
        reject(Object.assign(new Error(`${file} ${args.join(' ')} ${why}: ${detail}`), {stdout: String(stdout), stderr: String(stderr)}))
      } else {
        resolve({stdout: String(stdout), stderr: String(stderr)})
      }
    })
  })
}

/** `virsh -c URI -q ARGS…`, trimmed stdout. */
export async function virsh(uri: string, args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const {stdout} = await run(requireBinary('virsh'), ['-c', uri, '-q', ...args], {timeoutMs})
  return stdout.trim()
}

export interface StartLibvirtOptions {
  /** Where pid files and daemon logs go. Shared default so parallel workers see each other's pid files. */
  stateDir?: string
  /** Only qemu:///system can be started by this helper; other URIs must already answer. */
  uri?: string
  /** How long to wait for the daemons to answer (first start probes QEMU: ~5 s here). */
  readyTimeoutMs?: number
}

export interface LibvirtHandle {
  uri: string
  stateDir: string
  /** Daemons this call started (and stop() will stop), e.g. ['virtlogd', 'libvirtd']; empty if it reused running ones. */
  started: string[]
  /**
   * Done with libvirt. The last user stops the daemons the helper started, newest first, by pid
   * (whoever started them); reused system daemons are never stopped. Safe to call twice.
   */
  stop(): Promise<void>
}

interface Daemon {
  name: string
  child: ChildProcess
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  logFile: string
}

const DAEMON_ENV: NodeJS.ProcessEnv = {PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', LIBVIRT_LOG_OUTPUTS: '3:stderr'}
const VIRTLOGD_SOCKET = '/run/libvirt/virtlogd-sock'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Live (non-zombie) processes whose command name is `comm`. */
function livePids(comm: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const open = stat.indexOf('(')
      const close = stat.lastIndexOf(')')
      const name = stat.slice(open + 1, close)
      const state = stat.slice(close + 2, close + 3)
      if (name === comm && state !== 'Z' && state !== 'X') pids.push(Number(entry))
    } catch {
      // process went away while we looked
    }
  }
  return pids
}

async function answers(uri: string): Promise<boolean> {
  try {
    await virsh(uri, ['version'], 5_000)
    return true
  } catch {
    return false
  }
}

function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(false)
    const sock = createConnection({path})
    sock.once('connect', () => {
      sock.destroy()
      resolve(true)
    })
    sock.once('error', () => resolve(false))
  })
}

function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

function spawnDaemon(name: string, stateDir: string): Daemon {
  const bin = requireBinary(name)
  const logFile = join(stateDir, `${name}.log`)
  const out = openSync(logFile, 'a')
  // Foreground (no -d): the pid is ours and Node reaps it. Own process group, so a Ctrl-C to the
  // test runner does not kill it behind stop()'s back.
  const child = spawn(bin, ['-p', join(stateDir, `${name}.pid`)], {stdio: ['ignore', out, out], detached: true, env: DAEMON_ENV})
  closeSync(out)
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => {
    child.once('exit', (code, signal) => resolve({code, signal}))
    child.once('error', () => resolve({code: -1, signal: null}))
  })
  child.unref()
  return {name, child, exited, logFile}
}

async function waitFor(what: string, daemon: Daemon | undefined, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let dead: {code: number | null; signal: NodeJS.Signals | null} | undefined
  daemon?.exited.then((r) => (dead = r))
  for (;;) {
    if (await probe()) return
    if (dead) {
      throw new Error(`${daemon!.name} exited (code ${dead.code}, signal ${dead.signal}) before ${what}; ${daemon!.logFile}:\n${logTail(daemon!.logFile)}`)
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen within ${timeoutMs} ms` + (daemon ? `; ${daemon.logFile}:\n${logTail(daemon.logFile)}` : ''))
    }
    await sleep(200)
  }
}

async function stopDaemon(daemon: Daemon): Promise<void> {
  if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) return
  daemon.child.kill('SIGTERM')
  const result = await Promise.race([daemon.exited, sleep(15_000).then(() => undefined)])
  if (result === undefined) {
    daemon.child.kill('SIGKILL')
    await daemon.exited
  }
}

interface RecordedDaemon {
  name: string
  pid: number
}

const DAEMONS_FILE = 'daemons.json'

function isLive(pid: number, comm?: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X' && (comm === undefined || name === comm)
  } catch {
    return false
  }
}

/** Stop a daemon another process of the suite started: SIGTERM by its recorded pid (if it still is that daemon), SIGKILL after 15 s. */
async function stopRecorded(d: RecordedDaemon): Promise<void> {
  if (!isLive(d.pid, d.name)) return
  process.kill(d.pid, 'SIGTERM')
  const deadline = Date.now() + 15_000
  while (isLive(d.pid, d.name)) {
    if (Date.now() > deadline) {
      process.kill(d.pid, 'SIGKILL')
      break
    }
    await sleep(100)
  }
}

function readRecorded(stateDir: string): RecordedDaemon[] {
  try {
    return JSON.parse(readFileSync(join(stateDir, DAEMONS_FILE), 'utf8')) as RecordedDaemon[]
  } catch {
    return []
  }
}

/** A user file per startLibvirt() call: `<pid>-<random>`; a user whose process is gone does not count. */
function registerUser(stateDir: string): string {
  const dir = join(stateDir, 'users')
  mkdirSync(dir, {recursive: true})
  const file = join(dir, `${process.pid}-${randomBytes(4).toString('hex')}`)
  writeFileSync(file, '')
  return file
}

function liveUsers(stateDir: string): string[] {
  const dir = join(stateDir, 'users')
  let names: string[] = []
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names.filter((n) => {
    const pid = Number(n.split('-')[0])
    if (pid > 0 && isLive(pid)) return true
    rmSync(join(dir, n), {force: true})
    return false
  })
}

/** Serialise check-and-start across test workers: an O_EXCL lock file holding the holder's pid. */
async function withStartLock<T>(stateDir: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = join(stateDir, 'start.lock')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), {flag: 'wx'})
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number(readFileSync(lock, 'utf8').trim())
      let alive = false
      try {
        if (holder > 0) alive = process.kill(holder, 0)
      } catch {
        alive = false
      }
      if (!alive) {
        rmSync(lock, {force: true})
        continue
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by pid ${holder} for more than ${timeoutMs} ms`)
      await sleep(200)
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(lock, {force: true})
  }
}

/**
 * Make sure `uri` (default qemu:///system) answers, starting virtlogd and libvirtd directly if
 * needed. Must run as root to start anything. Test files running at once share the daemons: the
 * last one to call stop() stops them (see the users/ and daemons.json files in stateDir).
 */
export async function startLibvirt(opts: StartLibvirtOptions = {}): Promise<LibvirtHandle> {
  const uri = opts.uri ?? SYSTEM_URI
  const stateDir = opts.stateDir ?? join(tmpdir(), 'fleet-libvirt')
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000
  requireBinary('virsh')
  if (uri !== SYSTEM_URI) {
    if (await answers(uri)) return {uri, stateDir, started: [], stop: async () => {}}
    throw new Error(`${uri} does not answer, and this helper can only start the daemons behind ${SYSTEM_URI}`)
  }
  mkdirSync(stateDir, {recursive: true})

  const handle = (user: string, started: string[], mine: Daemon[]): LibvirtHandle => {
    let stopped: Promise<void> | undefined
    return {
      uri,
      stateDir,
      started,
      stop: () =>
        (stopped ??= withStartLock(stateDir, 60_000, async () => {
          rmSync(user, {force: true})
          if (liveUsers(stateDir).length > 0) return // the last user stops the daemons
          const recorded = readRecorded(stateDir)
          if (recorded.length === 0) return // reused daemons nobody here started
          await warnAboutLeftovers(uri)
          for (const d of [...recorded].reverse()) {
            const own = mine.find((m) => m.child.pid === d.pid)
            if (own) await stopDaemon(own)
            else await stopRecorded(d)
          }
          rmSync(join(stateDir, DAEMONS_FILE), {force: true})
          restoreKvm(stateDir)
        })),
    }
  }

  return withStartLock(stateDir, readyTimeoutMs + 15_000, async () => {
    if (await answers(uri)) return handle(registerUser(stateDir), [], [])
    // Someone else's libvirtd (a system one still starting, a stray one): wait for it, never start a second.
    const others = livePids('libvirtd')
    if (others.length > 0) {
      await waitFor(`${uri} answering (libvirtd pid ${others.join(', ')} was already running)`, undefined, readyTimeoutMs, () => answers(uri))
      return handle(registerUser(stateDir), [], [])
    }
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error(`${uri} does not answer and starting libvirtd needs root (running as uid ${process.getuid()})`)
    }
    requireBinary('libvirtd')
    requireBinary('virtlogd')
    requireBinary('qemu-system-x86_64')

    const mine: Daemon[] = []
    const stopAll = async () => {
      while (mine.length > 0) await stopDaemon(mine.pop()!)
    }
    try {
      if (livePids('virtlogd').length === 0) {
        const virtlogd = spawnDaemon('virtlogd', stateDir)
        mine.push(virtlogd)
        await waitFor(`${VIRTLOGD_SOCKET} accepting`, virtlogd, 10_000, () => socketAccepts(VIRTLOGD_SOCKET))
      } else {
        await waitFor(`${VIRTLOGD_SOCKET} accepting (virtlogd was already running)`, undefined, 10_000, () => socketAccepts(VIRTLOGD_SOCKET))
      }
      openKvmToQemuGroup(stateDir)
      const libvirtd = spawnDaemon('libvirtd', stateDir)
      mine.push(libvirtd)
      await waitFor(`${uri} answering`, libvirtd, readyTimeoutMs, () => answers(uri))
    } catch (err) {
      await stopAll()
      restoreKvm(stateDir)
      throw err
    }
    const recorded: RecordedDaemon[] = mine.map((d) => ({name: d.name, pid: d.child.pid!}))
    writeFileSync(join(stateDir, DAEMONS_FILE), JSON.stringify(recorded))
    return handle(registerUser(stateDir), mine.map((d) => d.name), [...mine])
  })
}

/** libvirtd going away leaves running domains and active networks' dnsmasq behind: say so. */
async function warnAboutLeftovers(uri: string): Promise<void> {
  try {
    const domains = (await virsh(uri, ['list', '--name'], 5_000)).split('\n').filter(Boolean)
    const networks = (await virsh(uri, ['net-list', '--name'], 5_000)).split('\n').filter(Boolean)
    if (domains.length + networks.length > 0) {
      console.warn(`stopping libvirtd with running domains [${domains.join(', ')}] and active networks [${networks.join(', ')}]; they keep running without it`)
    }
  } catch {
    // best effort
  }
}
