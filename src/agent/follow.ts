import {closeSync, existsSync, openSync, readSync} from 'node:fs'
import {ProtocolError, type RunStatus} from '../protocol/index.js'
import {UserError} from '../errors/user-error.js'
import {runIsLive} from './runs.js'
import type {StateDir} from './state-dir.js'

const POLL_MS = 50

/**
 * Print a run's journal lines with seq > `from`, then keep reading as the
 * run appends, until its run-end. Returns the run's final status, or
 * 'interrupted' when the run stopped (killed, host rebooting) without one.
 */
export async function followJournal(state: StateDir, run: string, from: number, write: (line: string) => void, opts: {once?: boolean} = {}): Promise<RunStatus | 'interrupted' | 'running'> {
  const path = state.journal(run)
  if (!existsSync(path)) throw new UserError(`No run ${run} in ${state.root}.`, 2)
  const fd = openSync(path, 'r')
  const buf = Buffer.alloc(1 << 20)
  let offset = 0
  let rest = ''
  try {
    for (;;) {
      let status: RunStatus | undefined
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
          const r = seqAndType(line)
          if (r.seq > from) write(line)
          if (r.type === 'run-end') status = r.status
        }
      }
      if (status) return status
      if (got === 0) {
        if (opts.once) return 'running'
        if (!runIsLive(state, run)) {
          // The writer may have appended its last lines just before going away: one more read decides.
          if (readSync(fd, buf, 0, 1, offset) === 0) return 'interrupted'
          continue
        }
        await new Promise((r) => setTimeout(r, POLL_MS))
      }
    }
  } finally {
    closeSync(fd)
  }
}

/**
 * What following needs of a journal line: its seq, type and (run-end) status.
 * The lines are the agent's own; whoever reads what follow prints validates
 * them in full (fleet does), so this skips the schema and its cost.
 */
function seqAndType(line: string): {seq: number; type: string; status?: RunStatus} {
  let r: {seq?: unknown; type?: unknown; status?: unknown}
  try {
    r = JSON.parse(line)
  } catch {
    throw new ProtocolError(`not a JSON record: ${line.slice(0, 80)}`)
  }
  if (typeof r?.seq !== 'number' || typeof r.type !== 'string') throw new ProtocolError(`invalid record (seq, type): ${line.slice(0, 80)}`)
  return {seq: r.seq, type: r.type, status: r.status as RunStatus | undefined}
}

/** Exit codes of `agent run`, `agent follow` and `agent undo` by how the run ended. */
export function exitCodeFor(status: RunStatus | 'interrupted' | 'running'): number {
  switch (status) {
    case 'ok':
      return 0
    case 'failed':
      return 1
    case 'interrupted':
    case 'running':
      return 3
    case 'abandoned':
      return 5
  }
}
