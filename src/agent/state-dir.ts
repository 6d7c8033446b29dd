import {accessSync, constants, mkdirSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {cannotMakeReason} from '../errors/fs-reason.js'
import {UserError} from '../errors/user-error.js'
import {onDisk} from './disk-full.js'

/**
 * Where the agent keeps runs, journals, step logs and its lock:
 * /var/lib/fleet-agent for root, otherwise $XDG_STATE_HOME/fleet-agent
 * (~/.local/state/fleet-agent). `--state-dir` overrides it.
 */
export function defaultStateDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/fleet-agent'
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state')
  return join(base, 'fleet-agent')
}

export class StateDir {
  constructor(readonly root: string) {}

  get runsDir(): string {
    return join(this.root, 'runs')
  }
  get lockPath(): string {
    return join(this.root, 'lock')
  }
  get lastRunPath(): string {
    return join(this.root, 'last-run')
  }
  /** Where a detached run's stray stdout/stderr go (its records go to the journal). */
  get detachedOutput(): string {
    return join(this.root, 'agent.out')
  }
  /** Space a running run keeps for its last records on a disk that fills (SpaceReserve). */
  get reservePath(): string {
    return join(this.root, 'space-reserve')
  }
  runDir(run: string): string {
    return join(this.runsDir, run)
  }
  journal(run: string): string {
    return join(this.runDir(run), 'journal.jsonl')
  }
  meta(run: string): string {
    return join(this.runDir(run), 'meta.json')
  }
  logsDir(run: string): string {
    return join(this.runDir(run), 'logs')
  }
  stepLog(run: string, step: string): string {
    return join(this.logsDir(run), `${step}.log`)
  }

  /** The folders made (the first one made, if any); refused in one sentence when this user cannot write there. */
  ensure(): string | undefined {
    try {
      const made = onDisk(this.runsDir, () => mkdirSync(this.runsDir, {recursive: true, mode: 0o700}))
      // There already but read-only: the lock and the journals are written here.
      accessSync(this.root, constants.W_OK)
      accessSync(this.runsDir, constants.W_OK)
      return made
    } catch (e) {
      throw unusableStateDir(this.root, e) ?? e
    }
  }
}

/**
 * A state folder this user cannot use (a file in the way, no permission, read-only): one
 * sentence, exit 2. A full disk stays DiskFullError's (exit 6).
 */
export function unusableStateDir(root: string, e: unknown): UserError | undefined {
  const why = cannotMakeReason(e)
  return why === undefined ? undefined : new UserError(`The agent's state folder ${root} cannot be used: ${why}; give --state-dir a folder this user can write.`)
}
