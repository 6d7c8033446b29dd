import {spawn} from 'node:child_process'
import {closeSync, existsSync, openSync, readSync, rmdirSync, statSync, unlinkSync, writeSync} from 'node:fs'
import {dirname} from 'node:path'
import {EXIT} from '../protocol/exit-codes.js'
import {flushCompileCache} from './compile-cache.js'
import {DiskFullError, onDisk} from './disk-full.js'
import type {StartOutcome} from './run.js'
import {unusableStateDir, type StateDir} from './state-dir.js'

export type HandshakeMessage = StartOutcome | {kind: 'error'; message: string; exitCode: number}

/** The fd on which a detached run tells its starter which run it is. */
const HANDSHAKE_FD = 3

/** A detached run as its starter sees it: its answer, and (for one that goes on) how it exits. */
export interface Detached {
  answer: HandshakeMessage
  /** The run's exit code once it exits (null: by a signal); undefined if it is still going after `waitMs`. */
  exitCode(waitMs: number): Promise<number | null | undefined>
}

/**
 * Start `agent run` again as a detached process: its own session (so the
 * end of the SSH session that started it sends it no SIGHUP), stdin closed,
 * stray output to a file in the state dir. It answers on a pipe once it holds
 * the lock and knows its run id; this returns that answer.
 */
export async function startDetached(state: StateDir, runArgs: string[]): Promise<HandshakeMessage> {
  return (await startDetachedRun(state, runArgs)).answer
}

export async function startDetachedRun(state: StateDir, runArgs: string[]): Promise<Detached> {
  // The child validates the playbook and vars (the starter does not load them: one
  // load per host, not two). When it refuses them, take back the folders and the empty
  // output file made here, so bad input leaves the state dir as it was.
  const outMade = !existsSync(state.detachedOutput)
  let firstMade: string | undefined
  let out: number
  try {
    firstMade = state.ensure()
    out = onDisk(state.detachedOutput, () => openSync(state.detachedOutput, 'a', 0o600))
  } catch (e) {
    if (!(e instanceof DiskFullError)) throw unusableStateDir(state.root, e) ?? e
    undoMade(state, firstMade, outMade)
    return {answer: {kind: 'error', message: e.message, exitCode: e.exitCode}, exitCode: async () => undefined}
  }
  const started = spawnDetached(state, runArgs, out)
  const answer = await started.answer
  if (answer.kind === 'error') undoMade(state, firstMade, outMade)
  return {answer, exitCode: started.exitCode}
}

function undoMade(state: StateDir, firstMade: string | undefined, outMade: boolean): void {
  try {
    if (outMade && statSync(state.detachedOutput).size === 0) unlinkSync(state.detachedOutput)
    if (!firstMade) return
    for (let d = state.runsDir; d.length >= firstMade.length; d = dirname(d)) rmdirSync(d)
  } catch {
    // Not empty (another start is using it) or already gone: leave it.
  }
}

function spawnDetached(state: StateDir, runArgs: string[], out: number): {answer: Promise<HandshakeMessage>; exitCode: Detached['exitCode']} {
  const outStart = sizeOf(state.detachedOutput)
  flushCompileCache()
  const child = spawn(process.execPath, [process.argv[1], ...runArgs, '--detached-child'], {
    detached: true,
    cwd: '/',
    stdio: ['ignore', out, out, 'pipe'],
  })
  closeSync(out)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const exitCode = (waitMs: number) => {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)))
    return Promise.race([exited, late]).finally(() => clearTimeout(timer))
  }
  const answer = new Promise<HandshakeMessage>((resolve) => {
    let text = ''
    const pipe = child.stdio[HANDSHAKE_FD] as NodeJS.ReadableStream
    pipe.setEncoding('utf8')
    pipe.on('data', (d: string) => (text += d))
    pipe.on('end', () => {
      child.unref()
      try {
        resolve(JSON.parse(text) as HandshakeMessage)
      } catch {
        // It ended without answering: say how, and what it left in its output file.
        void exitCode(5000).then((code) => resolve({kind: 'error', message: noAnswer(state, outStart, code), exitCode: code === EXIT.noSpace ? EXIT.noSpace : EXIT.failed}))
      }
    })
    child.on('error', (e) => resolve({kind: 'error', message: `cannot start the detached agent: ${e.message}`, exitCode: EXIT.failed}))
  })
  return {answer, exitCode}
}

/**
 * Why there is no answer, as far as the starter can tell: not whether a run began
 * (a run may have, and be resumed by the next start), but how the process ended
 * and the last line it wrote to agent.out, if the disk took it.
 */
function noAnswer(state: StateDir, from: number, code: number | null | undefined): string {
  const how = code === undefined ? 'stopped answering' : code === null ? 'was killed' : `exited with code ${code}`
  const said = lastLine(state.detachedOutput, from)
  return `the detached agent ${how} before it said which run it is; see ${state.detachedOutput}${said ? `: ${said}` : ''}`
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/** The last non-blank line written to `path` after byte `from` (at most 64 KiB of it is read). */
function lastLine(path: string, from: number): string | undefined {
  try {
    const fd = openSync(path, 'r')
    try {
      const start = Math.max(from, sizeOf(path) - 65_536)
      const buf = Buffer.alloc(Math.max(0, sizeOf(path) - start))
      const n = readSync(fd, buf, 0, buf.length, start)
      const lines = buf.toString('utf8', 0, n).split('\n').map((l) => l.trim()).filter(Boolean)
      return lines.at(-1)?.slice(0, 300)
    } finally {
      closeSync(fd)
    }
  } catch {
    return undefined
  }
}

/** In the detached process: answer the starter, once. */
export function answerStarter(msg: HandshakeMessage): void {
  try {
    writeSync(HANDSHAKE_FD, JSON.stringify(msg))
    closeSync(HANDSHAKE_FD)
  } catch {
    // The starter is gone; the run goes on regardless.
  }
}
