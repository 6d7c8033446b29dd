import {spawn} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, rmdirSync, statSync, unlinkSync, writeSync} from 'node:fs'
import {dirname} from 'node:path'
import type {StartOutcome} from './run.js'
import type {StateDir} from './state-dir.js'

export type HandshakeMessage = StartOutcome | {kind: 'error'; message: string; exitCode: number}

/** The fd on which a detached run tells its starter which run it is. */
const HANDSHAKE_FD = 3

/**
 * Start `agent run` again as a detached process: its own session (so the
 * end of the SSH session that started it sends it no SIGHUP), stdin closed,
 * stray output to a file in the state dir. It answers on a pipe once it holds
 * the lock and knows its run id; this returns that answer.
 */
export async function startDetached(state: StateDir, runArgs: string[]): Promise<HandshakeMessage> {
  // The child validates the playbook and vars (the starter does not load them: one
  // load per host, not two). When it refuses them, take back the folders and the empty
  // output file made here, so bad input leaves the state dir as it was.
  const firstMade = mkdirSync(state.runsDir, {recursive: true, mode: 0o700})
  const outMade = !existsSync(state.detachedOutput)
  const answer = await spawnDetached(state, runArgs)
  if (answer.kind === 'error') undoMade(state, firstMade, outMade)
  return answer
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

function spawnDetached(state: StateDir, runArgs: string[]): Promise<HandshakeMessage> {
  const out = openSync(state.detachedOutput, 'a', 0o600)
  const child = spawn(process.execPath, [process.argv[1], ...runArgs, '--detached-child'], {
    detached: true,
    cwd: '/',
    stdio: ['ignore', out, out, 'pipe'],
  })
  closeSync(out)
  return new Promise((resolve) => {
    let text = ''
    const pipe = child.stdio[HANDSHAKE_FD] as NodeJS.ReadableStream
    pipe.setEncoding('utf8')
    pipe.on('data', (d: string) => (text += d))
    pipe.on('end', () => {
      child.unref()
      try {
        resolve(JSON.parse(text) as HandshakeMessage)
      } catch {
        resolve({kind: 'error', message: `the detached agent stopped before it started a run; see ${state.detachedOutput}`, exitCode: 1})
      }
    })
    child.on('error', (e) => resolve({kind: 'error', message: `cannot start the detached agent: ${e.message}`, exitCode: 1}))
  })
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
