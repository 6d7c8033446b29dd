// Child processes for the benchmarks: run one, time it, keep its output for when it fails.
import {spawn} from 'node:child_process'
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'

export interface Timed {
  ms: number
  /** CPU (user + system) of the command and every descendant it waited for, ms. */
  cpuMs: number
  code: number | null
  stdout: string
  stderr: string
}

/** Run argv to its end; wall time in ms. Output is kept (truncated) for error messages. */
export function timed(argv: string[], opts: {env?: NodeJS.ProcessEnv; cwd?: string; okCodes?: number[]} = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuMs()
    const t0 = process.hrtime.bigint()
    const child = spawn(argv[0], argv.slice(1), {env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    const keep = (s: string, d: Buffer) => (s.length < 4_000_000 ? s + d.toString('utf8') : s)
    child.stdout.on('data', (d: Buffer) => (stdout = keep(stdout, d)))
    child.stderr.on('data', (d: Buffer) => (stderr = keep(stderr, d)))
    child.on('error', reject)
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6
      const ok = opts.okCodes ?? [0]
      if (!ok.includes(code ?? -1)) {
        reject(new Error(`${argv.slice(0, 6).join(' ')}${argv.length > 6 ? ' ...' : ''} exited with ${code}:\n${stderr.slice(-3000)}\n${stdout.slice(-3000)}`))
        return
      }
      resolve({ms, cpuMs: childrenCpuMs() - cpu0, code, stdout, stderr})
    })
  })
}

/**
 * CPU of this process's reaped children (and theirs, as far as they waited): cutime +
 * cstime of /proc/self/stat. Measured around one command at a time, it is that command's CPU.
 */
export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // after the comm: state(3) ... utime(14) stime(15) cutime(16) cstime(17); f[0] is field 3
  return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK
}
const CLK_TCK = 100

/** First line of a tool's version output (stdout or stderr), or 'n/a'. */
export function versionOf(cmd: string, args: string[], pick: (out: string) => string = (o) => o.split('\n')[0].trim()): string {
  const r = spawnSync(cmd, args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim()
  return r.error || !text ? 'n/a' : pick(text)
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export function spread(xs: number[]): number {
  return Math.max(...xs) - Math.min(...xs)
}

export const sec = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`

/**
 * The environment an agent gets on a host: what sshd sets for a session, nothing of this
 * shell's. Not process.env: a NODE_EXTRA_CA_CERTS there (this machine sets one) makes every
 * Node.js start read and parse that CA bundle, ~30 ms here, which no host pays and which
 * counts on both sides of a ratio against `node -e 0` (50 ms instead of ~21).
 */
export function sessionEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG']
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]))
}
