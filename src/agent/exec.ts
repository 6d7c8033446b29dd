import {StringDecoder} from 'node:string_decoder'
import {fileTest} from './builtins/file-test.js'
import {killAllLaunched, launch} from './launcher/choose.js'
import {killGroup} from './launcher/kill.js'
import type {ChildEvents} from './launcher/types.js'

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
  /** Stop the command (its group gets SIGTERM, then SIGKILL) when this aborts: the agent cannot record it any more. */
  signal?: AbortSignal
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
  killAllLaunched(signal)
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
 * text. On timeout (or `signal`) the whole group gets SIGTERM, then SIGKILL. It is
 * started by the python launcher when there is one, else by Node (launcher/choose.ts);
 * a script that is only file tests is answered without a shell.
 */
export function runShell(cmd: ShellCommand): Promise<ShellResult> {
  // A plain file test needs no bash (builtins/file-test.ts); through sudo it is root's to answer.
  const answered = cmd.sudo || cmd.stdin !== undefined || cmd.signal?.aborted ? undefined : fileTest(cmd.script)
  if (answered !== undefined) return Promise.resolve({code: answered ? 0 : 1, signal: null, timedOut: false, sudoNeedsPassword: false})
  const argv = shellArgv(cmd)
  return new Promise((resolve, reject) => {
    let pid: number | undefined
    let timedOut = false
    let stopping = false
    let sudoNeedsPassword = false
    let killTimer: NodeJS.Timeout | undefined
    const stop = () => {
      if (stopping) return
      stopping = true
      if (pid) killGroup(pid, 'SIGTERM')
      killTimer = setTimeout(() => pid && killGroup(pid, 'SIGKILL'), KILL_GRACE_MS)
    }
    const timer = setTimeout(() => {
      timedOut = true
      stop()
    }, cmd.timeoutMs)
    const onAbort = () => stop()
    cmd.signal?.addEventListener('abort', onAbort, {once: true})
    const done = () => {
      clearTimeout(timer)
      if (killTimer) clearTimeout(killTimer)
      cmd.signal?.removeEventListener('abort', onAbort)
      if (pid) running.delete(pid)
    }
    const outDec = new StringDecoder('utf8')
    const errDec = new StringDecoder('utf8')
    const events: ChildEvents = {
      spawned(p) {
        pid = p
        running.add(p)
        // The launcher reports the pid a moment after the start: a timeout (or abort) may have come first.
        if (stopping) killGroup(p, 'SIGTERM')
      },
      stdout: (b) => cmd.onStdout?.(outDec.write(b)),
      stderr(b) {
        const text = errDec.write(b)
        if (cmd.sudo && /sudo: (a password is required|a terminal is required)/.test(text)) sudoNeedsPassword = true
        cmd.onStderr?.(text)
      },
      failed(e) {
        done()
        reject(e)
      },
      closed(code, signal) {
        done()
        const outTail = outDec.end()
        const errTail = errDec.end()
        if (outTail) cmd.onStdout?.(outTail)
        if (errTail) cmd.onStderr?.(errTail)
        resolve({code, signal, timedOut, sudoNeedsPassword})
      },
    }
    if (cmd.signal?.aborted) stop()
    try {
      launch(argv, {...process.env, ...cmd.env}, cmd.stdin, events)
    } catch (e) {
      // Node's spawn throws at once on bad arguments (a NUL byte in the script).
      events.failed(e as Error)
    }
  })
}
