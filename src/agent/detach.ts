import {spawn} from 'node:child_process'
import {closeSync, openSync, writeSync} from 'node:fs'
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
export function startDetached(state: StateDir, runArgs: string[]): Promise<HandshakeMessage> {
  state.ensure()
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
