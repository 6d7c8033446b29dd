import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {foldRun, type RunSummary} from '../protocol/fold.js'
import type {JournalRecord, RunMode} from '../protocol/records.js'
import {onDisk} from './disk-full.js'
import {readJournal} from './journal.js'
import {isAlive, readLock} from './lock.js'
import type {StateDir} from './state-dir.js'

/** What a run was started with; a later start resumes it only if all of this is the same. */
export interface RunMeta {
  run: string
  mode: RunMode
  playbook_path: string
  playbook_hash: string
  vars_path?: string
  vars_hash: string
  only?: string[]
  from_step?: string
  to_step?: string
  /** The caller's id for the start that began (or last resumed) it (--request); not part of resumeKey. */
  request?: string
}

export function resumeKey(m: RunMeta): string {
  return JSON.stringify([m.mode, m.playbook_path, m.playbook_hash, m.vars_hash, m.only ?? [], m.from_step ?? '', m.to_step ?? ''])
}

/** Run ids sort by time: 20261124T033000Z-1a2b3c. */
export function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`
}

/** Replace the file at once; on a full disk it is left as it was (DiskFullError naming it). */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`
  try {
    onDisk(path, () => writeFileSync(tmp, text, {mode: 0o600}))
  } catch (e) {
    rmSync(tmp, {force: true})
    throw e
  }
  renameSync(tmp, path)
}

export function createRun(state: StateDir, meta: RunMeta): void {
  onDisk(state.logsDir(meta.run), () => mkdirSync(state.logsDir(meta.run), {recursive: true, mode: 0o700}))
  writeMeta(state, meta)
  writeAtomic(state.lastRunPath, meta.run)
}

export function writeMeta(state: StateDir, meta: RunMeta): void {
  writeAtomic(state.meta(meta.run), JSON.stringify(meta, null, 2))
}

export function readMeta(state: StateDir, run: string): RunMeta | undefined {
  try {
    return JSON.parse(readFileSync(state.meta(run), 'utf8')) as RunMeta
  } catch {
    return undefined
  }
}

export function lastRunId(state: StateDir): string | undefined {
  try {
    return readFileSync(state.lastRunPath, 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

export function allRunIds(state: StateDir): string[] {
  if (!existsSync(state.runsDir)) return []
  return readdirSync(state.runsDir).filter((d) => existsSync(state.journal(d))).sort()
}

/** Whether a live agent process holds the host's lock for this run. */
export function runIsLive(state: StateDir, run: string): boolean {
  const holder = readLock(state.lockPath)
  return !!holder && holder.run === run && isAlive(holder)
}

/** A run's summary, with a run that has no end and no live process reported as interrupted. */
export function summarizeRun(state: StateDir, run: string): RunSummary | undefined {
  const summary = foldRun(readJournal(state.journal(run)))
  if (summary && (summary.state === 'running' || summary.state === 'rebooting') && !runIsLive(state, run)) summary.state = 'interrupted'
  return summary
}

/**
 * Whether each step is applied according to every journal on this host, in
 * order: a run that ended a step ok or skipped applied it, an undo that ended
 * it ok removed it. Undo uses this for steps that have no check.
 */
export function appliedSteps(state: StateDir): Set<string> {
  const applied = new Set<string>()
  for (const run of allRunIds(state)) {
    let mode: RunMode = 'run'
    for (const r of readJournal(state.journal(run)) as JournalRecord[]) {
      if (r.type === 'run-start') mode = r.mode
      if (r.type !== 'step-end') continue
      if (mode === 'run' && (r.status === 'ok' || r.status === 'skipped') && r.reason !== 'when') applied.add(r.step)
      if (mode === 'undo' && r.status === 'ok') applied.delete(r.step)
    }
  }
  return applied
}
