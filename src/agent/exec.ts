import {spawn} from 'node:child_process'
import {StringDecoder} from 'node:string_decoder'

export interface ShellCommand {
  script: string
  env?: Record<string, string>
  /** Run through `sudo -n` because the step needs root and the agent is not root. */
  sudo?: boolean
  timeoutMs: number
  onStdout?: (text: string) => void
  onStderr?: (text: string) => void
  /** Text for the command's stdin; without it stdin is /dev/null, so nothing can prompt. */
  stdin?: string
}

export interface ShellResult {
  code: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  /** sudo refused because it wanted a password (no NOPASSWD rule for this user). */
  sudoNeedsPassword: boolean
}

const BASH = ['bash', '--noprofile', '--norc', '-eo', 'pipefail', '-c']
const KILL_GRACE_MS = 5000

/** The processes running commands for this agent, so a signal to the agent can end them all. */
const running = new Set<number>()

export function killAllRunning(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const pid of running) killGroup(pid, signal)
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // the group is already gone
  }
}

/** argv for a step's shell command: bash with errexit and pipefail, through sudo when asked. */
export function shellArgv(cmd: Pick<ShellCommand, 'script' | 'env' | 'sudo'>): string[] {
  if (!cmd.sudo) return [...BASH, cmd.script]
  // sudo resets the environment; the step's own env is passed through `env` as arguments (no shell involved).
  const envArgs = Object.entries(cmd.env ?? {}).map(([k, v]) => `${k}=${v}`)
  return ['sudo', '-n', '--', 'env', ...envArgs, ...BASH, cmd.script]
}

/**
 * Run one shell command in its own process group, streaming its output as
 * text. On timeout the whole group gets SIGTERM, then SIGKILL.
 */
export function runShell(cmd: ShellCommand): Promise<ShellResult> {
  const argv = shellArgv(cmd)
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      detached: true,
      env: {...process.env, ...cmd.env},
      stdio: [cmd.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    if (child.pid) running.add(child.pid)
    let timedOut = false
    let sudoNeedsPassword = false
    let killTimer: NodeJS.Timeout | undefined
    const timer = setTimeout(() => {
      timedOut = true
      if (child.pid) killGroup(child.pid, 'SIGTERM')
      killTimer = setTimeout(() => child.pid && killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS)
    }, cmd.timeoutMs)
    const outDec = new StringDecoder('utf8')
    const errDec = new StringDecoder('utf8')
    child.stdout!.on('data', (b: Buffer) => cmd.onStdout?.(outDec.write(b)))
    child.stderr!.on('data', (b: Buffer) => {
      const text = errDec.write(b)
      if (cmd.sudo && /sudo: (a password is required|a terminal is required)/.test(text)) sudoNeedsPassword = true
      cmd.onStderr?.(text)
    })
    if (cmd.stdin !== undefined) child.stdin!.end(cmd.stdin)
    child.on('error', (e) => {
      clearTimeout(timer)
      if (child.pid) running.delete(child.pid)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (killTimer) clearTimeout(killTimer)
      if (child.pid) running.delete(child.pid)
      const outTail = outDec.end()
      const errTail = errDec.end()
      if (outTail) cmd.onStdout?.(outTail)
      if (errTail) cmd.onStderr?.(errTail)
      resolve({code, signal, timedOut, sudoNeedsPassword})
    })
  })
}
