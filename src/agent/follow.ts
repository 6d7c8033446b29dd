import {closeSync, existsSync, openSync, readSync} from 'node:fs'
import {parseOwnRecord} from '../protocol/split-lines.js'
import {EXIT} from '../protocol/exit-codes.js'
import type {RunStatus} from '../protocol/records.js'
import {UserError} from '../errors/user-error.js'
import {noSpacePath} from '../protocol/no-space.js'
import {runIsLive} from './runs.js'
import type {StateDir} from './state-dir.js'

const POLL_MS = 50

/** How following a run ended: its run-end's status, 'no-space' for a run the host's full disk ended, or not ended. */
export type FollowStatus = RunStatus | 'interrupted' | 'running' | 'no-space'

/**
 * Print a run's journal lines with seq > `from`, then keep reading as the
 * run appends, until its run-end. Returns the run's final status, or
 * 'interrupted' when the run stopped (killed, host rebooting) without one,
 * or 'no-space' when the host's full disk ended it (see followRun).
 */
export async function followJournal(state: StateDir, run: string, from: number, write: (line: string) => void, opts: {once?: boolean} = {}): Promise<FollowStatus> {
  return (await followRun(state, run, from, write, opts)).status
}

/**
 * followJournal, with the run-end's error. A run-end that says the disk was full
 * ends following only once no agent holds the run: the next start resumes such a
 * run (a run-resume after it), and may be doing so this moment.
 */
export async function followRun(state: StateDir, run: string, from: number, write: (line: string) => void, opts: {once?: boolean} = {}): Promise<{status: FollowStatus; error?: string}> {
  const path = state.journal(run)
  if (!existsSync(path)) throw new UserError(`No run ${run} in ${state.root}.`, EXIT.badInput)
  const fd = openSync(path, 'r')
  const buf = Buffer.alloc(1 << 20)
  let offset = 0
  let rest = ''
  let end: {status: RunStatus; error?: string} | undefined
  try {
    for (;;) {
      let got = 0
      for (let n = readSync(fd, buf, 0, buf.length, offset); n > 0; n = readSync(fd, buf, 0, buf.length, offset)) {
        offset += n
        got += n
        // Only whole lines count: a line without its newline is still being written.
        const text = rest + buf.toString('utf8', 0, n)
        const lines = text.split('\n')
        rest = lines.pop() ?? ''
        for (const line of lines) {
          if (!line) continue
          const r = parseOwnRecord(line)
          if (r.seq > from) write(line)
          if (r.type === 'run-end') end = {status: r.status, error: r.error}
          else if (r.type === 'run-resume') end = undefined
        }
      }
      const stoppedByDisk = end?.status === 'failed' && noSpacePath(end.error) !== undefined
      if (end && !stoppedByDisk) return end
      if (got === 0) {
        if (opts.once) return stoppedByDisk && !runIsLive(state, run) ? {status: 'no-space', error: end!.error} : {status: 'running'}
        if (!runIsLive(state, run)) {
          // The writer may have appended its last lines just before going away: one more read decides.
          if (readSync(fd, buf, 0, 1, offset) === 0) return stoppedByDisk ? {status: 'no-space', error: end!.error} : {status: 'interrupted'}
          continue
        }
        await new Promise((r) => setTimeout(r, POLL_MS))
      }
    }
  } finally {
    closeSync(fd)
  }
}

/** Exit codes of `agent run`, `agent follow` and `agent undo` by how the run ended. */
export function exitCodeFor(status: FollowStatus): number {
  switch (status) {
    case 'ok':
      return EXIT.ok
    case 'failed':
      return EXIT.failed
    case 'interrupted':
    case 'running':
      return EXIT.interrupted
    case 'abandoned':
      return EXIT.abandoned
    case 'no-space':
      return EXIT.noSpace
  }
}
