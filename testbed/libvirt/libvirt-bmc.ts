/**
 * A virtual BMC for a libvirt domain in system tests: Debian's `virshbmc` (python3-pyghmi), driven
 * with ipmitool over IPMI v2 (lanplus) on loopback.
 *
 * virshbmc facts (pyghmi 1.5.34, Debian 12; see /tmp/libvirt-notes.md):
 * - needs python3-libvirt, which python3-pyghmi does not pull in ("No module named 'libvirt'");
 * - runs in the foreground, prints nothing on start, stops on SIGTERM at once;
 * - credentials are fixed: admin / password; binds UDP on '::' (every address, v4 and v6), there
 *   is no --address option;
 * - power status/on/off/reset/soft work; on/off on a domain already in that state fail with
 *   "Command not supported in present state"; `chassis bootdev` is not implemented.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {closeSync, openSync, readFileSync} from 'node:fs'
import {createSocket} from 'node:dgram'
import {join} from 'node:path'
import {requireBinary, run, SYSTEM_URI} from './libvirt-daemon.js'

export const BMC_USER = 'admin'
export const BMC_PASSWORD = 'password'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Fail early, naming the Debian package, if virshbmc cannot run here. */
export async function requireVirshBmc(): Promise<string> {
  const bin = requireBinary('virshbmc')
  const shebang = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? ''
  const python = shebang.startsWith('#!') ? shebang.slice(2).trim().split(/\s+/)[0]! : '/usr/bin/python3'
  try {
    await run(python, ['-c', 'import libvirt, pyghmi.ipmi.bmc'], {timeoutMs: 15_000})
  } catch (err) {
    throw new Error(`virshbmc cannot import its modules with ${python}: install them with: apt-get install python3-libvirt python3-pyghmi\n${(err as Error).message}`)
  }
  return bin
}

/** A UDP port nothing listens on right now (on '::', as virshbmc binds). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({type: 'udp6'})
    sock.once('error', reject)
    sock.bind(0, '::', () => {
      const {port} = sock.address()
      sock.close(() => resolve(port))
    })
  })
}

/** Is something bound to UDP `port` (any address, v4 or v6)? */
export function udpPortBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1]
      if (local?.endsWith(hex)) return true
    }
  }
  return false
}

export interface VirshBmc {
  port: number
  pid: number
  logFile: string
  /** SIGTERM to our virshbmc, wait for it to exit. Safe to call twice. */
  stop(): Promise<void>
}

export interface StartVirshBmcOptions {
  domain: string
  /** Where virshbmc-<domain>.log goes. */
  logDir: string
  uri?: string
  /** Default: a free UDP port. */
  port?: number
  readyTimeoutMs?: number
}

export async function startVirshBmc(opts: StartVirshBmcOptions): Promise<VirshBmc> {
  const bin = await requireVirshBmc()
  const port = opts.port ?? (await freeUdpPort())
  if (udpPortBound(port)) throw new Error(`UDP port ${port} is already in use; virshbmc cannot bind it`)
  const logFile = join(opts.logDir, `virshbmc-${opts.domain}.log`)
  const out = openSync(logFile, 'a')
  const child: ChildProcess = spawn(bin, ['--port', String(port), '--domain', opts.domain, '--connect', opts.uri ?? SYSTEM_URI], {
    stdio: ['ignore', out, out],
  })
  closeSync(out)
  let exit: {code: number | null; signal: NodeJS.Signals | null} | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = {code, signal}
      resolve()
    })
    child.once('error', () => {
      exit ??= {code: -1, signal: null}
      resolve()
    })
  })
  const stop = async () => {
    if (exit) return
    child.kill('SIGTERM')
    const gone = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])
    if (!gone) {
      child.kill('SIGKILL')
      await exited
    }
  }

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000)
  while (!udpPortBound(port)) {
    if (exit || Date.now() > deadline) {
      await stop()
      let log = ''
      try {
        log = readFileSync(logFile, 'utf8').trim()
      } catch {
        // no log
      }
      const why = exit ? `exited (code ${exit.code}, signal ${exit.signal})` : `did not bind UDP ${port} in time`
      throw new Error(`virshbmc for ${opts.domain} ${why}; ${logFile}:\n${log}`)
    }
    await sleep(100)
  }

  let stopped: Promise<void> | undefined
  return {port, pid: child.pid!, logFile, stop: () => (stopped ??= stop())}
}

export interface IpmiOptions {
  /** Default 127.0.0.1. */
  host?: string
  user?: string
  /** Default virshbmc's fixed "password"; passed through IPMI_PASSWORD, never argv. */
  password?: string
  /** Seconds per try (-N). Default 3, and 10 for power on/off/reset/cycle: virshbmc answers a
   * power change only once the domain started or stopped (~1 s under TCG, several on a loaded
   * machine), and a retransmitted "power on" is answered "not supported in present state". */
  timeoutS?: number
  /** Retries (-R). Default 2. */
  retries?: number
}

/**
 * `ipmitool -I lanplus` against a BMC on this machine (loopback by default); the password goes
 * through IPMI_PASSWORD (-E), never argv. Retries are short: against a port nobody listens on,
 * ipmitool's defaults wait 20 s. `hostOrOptions` may be the host, as before, or IpmiOptions.
 */
export async function ipmitool(port: number, args: readonly string[], hostOrOptions: string | IpmiOptions = {}): Promise<string> {
  const o: IpmiOptions = typeof hostOrOptions === 'string' ? {host: hostOrOptions} : hostOrOptions
  const changesPower = args[0] === 'power' && ['on', 'off', 'reset', 'cycle', 'soft'].includes(args[1] ?? '')
  const {stdout} = await run(
    requireBinary('ipmitool'),
    ['-I', 'lanplus', '-H', o.host ?? '127.0.0.1', '-p', String(port), '-U', o.user ?? BMC_USER, '-E', '-N', String(o.timeoutS ?? (changesPower ? 10 : 3)), '-R', String(o.retries ?? 2), ...args],
    {timeoutMs: 45_000, env: {...process.env, IPMI_PASSWORD: o.password ?? BMC_PASSWORD}},
  )
  return stdout.trim()
}
