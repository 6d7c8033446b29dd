import {spawn} from 'node:child_process'
import type {ChildEvents} from './types.js'

/** Node's own spawn: always there, but it forks the whole agent for every command (~2.4 ms of CPU each here, against the launcher's ~1.7). */
export function nodeLaunch(argv: string[], env: NodeJS.ProcessEnv, stdin: string | undefined, ev: ChildEvents): void {
  const child = spawn(argv[0], argv.slice(1), {
    detached: true,
    env,
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  })
  if (child.pid) ev.spawned(child.pid)
  child.stdout!.on('data', (b: Buffer) => ev.stdout(b))
  child.stderr!.on('data', (b: Buffer) => ev.stderr(b))
  if (stdin !== undefined) {
    // A command may exit without reading it all (EPIPE); its exit status says what happened.
    child.stdin!.on('error', () => {})
    child.stdin!.end(stdin)
  }
  child.on('error', (e) => ev.failed(e))
  child.on('close', (code, signal) => ev.closed(code, signal))
}
