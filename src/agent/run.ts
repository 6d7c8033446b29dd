import {spawnSync} from 'node:child_process'
import {UserError} from '../errors/user-error.js'
import {loadPlaybook} from '../playbook/load.js'
import {prepareSteps, type PreparedStep} from '../playbook/prepare.js'
import {withEngines} from '../playbook/engines.js'
import {selectSteps, selectUndoSteps} from '../playbook/select.js'
import type {CompiledPlaybook, Playbook} from '../playbook/types.js'
import {doneSteps} from '../protocol/fold.js'
import type {HostFacts, JournalRecord, RecordBody, RunEndRecord, RunMode, RunStatus} from '../protocol/records.js'
import type {StartKind} from '../protocol/start-answer.js'
import {noSpacePath} from '../protocol/no-space.js'
import {AGENT_VERSION} from './version.js'
import {DiskFullError, SpaceReserve} from './disk-full.js'
import {bootId, gatherFacts} from './facts.js'
import {killAllRunning} from './exec.js'
import {JournalWriter, readJournal} from './journal.js'
import {HostLock, isAlive, readLock, type LockInfo} from './lock.js'
import {appliedSteps, createRun, lastRunId, newRunId, readMeta, resumeKey, writeMeta, type RunMeta} from './runs.js'
import {StateDir} from './state-dir.js'
import {executeStep, sudoMessage} from './step-runner.js'

export interface RunRequest {
  mode: RunMode
  playbookPath: string
  varsPath?: string
  stateDir: string
  only?: string[]
  fromStep?: string
  toStep?: string
  /** The caller's id for this start (--request): a start whose run has ended is answered with it. */
  request?: string
}

export interface PreparedRun {
  req: RunRequest
  playbook: Playbook
  facts: HostFacts
  steps: PreparedStep[]
  meta: Omit<RunMeta, 'run'>
}

/** How `agent start` began: the protocol's start answer, before it is written. */
export type StartOutcome = StartKind

export interface RunResult {
  run: string
  status: RunStatus
  /** The run ended failed because the host's disk is full (its run-end, when the disk took it, says so). */
  fault?: DiskFullError
}

/**
 * Everything that can be checked before a run changes anything: playbook, vars, selection,
 * templates. It changes nothing itself, so the agent runs it under withEngines (engines.ts).
 * `compiled`: the playbook already compiled from its YAML (the dry run's), used as it is.
 */
export function prepareRun(req: RunRequest, compiled?: CompiledPlaybook): PreparedRun {
  const playbook = loadPlaybook(req.playbookPath, req.varsPath, compiled)
  const facts = gatherFacts()
  const chosen = req.mode === 'undo' ? selectUndoSteps(playbook, req.toStep) : selectSteps(playbook, req.only, req.fromStep)
  const steps = prepareSteps(playbook, chosen, facts)
  return {
    req,
    playbook,
    facts,
    steps,
    meta: {
      mode: req.mode,
      playbook_path: playbook.path,
      playbook_hash: playbook.hash,
      vars_path: req.varsPath,
      vars_hash: playbook.varsHash,
      only: req.only,
      from_step: req.fromStep,
      to_step: req.toStep,
      request: req.request,
    },
  }
}

/** Steps that need root on an agent that is not root need sudo without a password: say so before starting. */
export function checkSudo(p: PreparedRun): void {
  if (p.facts.is_root || !p.steps.some((s) => s.enabled && s.step.needs_root)) return
  const r = spawnSync('sudo', ['-n', 'true'], {stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'})
  if (r.status !== 0) throw new UserError(`Playbook ${p.playbook.name}: ${sudoMessage(p.facts.user)}.`, 1)
}

/**
 * One run of a playbook on this host: take the lock, resume the unfinished
 * run with the same inputs or start a new one, run the steps, journal it all.
 *
 * A full disk (DiskFullError from any write of the agent's own files): before
 * the run is known, executeRun throws it and nothing has changed (the start is
 * refused). Once it is known, the step going on and the run end failed with
 * "no space left on the host: PATH": the SpaceReserve taken at the start is given
 * back first, so those last records fit, and the result carries the fault. The
 * next start with the same inputs resumes such a run (openRun).
 */
export async function executeRun(p: PreparedRun, hooks: {onStart?: (o: StartOutcome) => void; onRecord?: (r: JournalRecord) => void} = {}): Promise<RunResult | undefined> {
  const state = new StateDir(p.req.stateDir)
  state.ensure()
  const got = HostLock.acquire(state.lockPath)
  if (!got.ok) {
    const holder = got.holder.run ? got.holder : await holderWithRun(state.lockPath, got.holder)
    hooks.onStart?.({kind: 'already-running', run: holder.run, pid: holder.pid})
    return undefined
  }
  const lock = got.lock
  const reserve = new SpaceReserve(state.reservePath)
  let journal: JournalWriter | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    // No run-end: a run stopped by a signal is resumed by the next start.
    killAllRunning('SIGTERM')
    try {
      journal?.sync()
    } catch {
      // a full disk: what was written is there, the rest is lost with the signal
    }
    reserve.release()
    lock.release()
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15))
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const s of signals) process.on(s, onSignal)
  try {
    // A disk without room for the reserve has none for a run's records: refuse before changing anything.
    reserve.take()
    const opened = openRun(state, p)
    if ('ended' in opened) {
      // This request's run ended already (its caller lost the answer): answer with it, run nothing.
      hooks.onStart?.({kind: 'ended', run: opened.run})
      return {run: opened.run, status: opened.ended}
    }
    const {run, resumed, records} = opened
    lock.setRun(run)
    journal = new JournalWriter(state.journal(run), run)
    if (hooks.onRecord) journal.onRecord(hooks.onRecord)
    hooks.onStart?.({kind: resumed ? 'resumed' : 'started', run})
    const opening: RecordBody = resumed
      ? {type: 'run-resume', pid: process.pid, boot_id: bootId(), done: [...doneSteps(records)]}
      : {
          type: 'run-start',
          mode: p.req.mode,
          playbook: {name: p.playbook.name, hash: p.playbook.hash, path: p.playbook.path},
          selection: {only: p.req.only, from_step: p.req.fromStep ?? p.req.toStep},
          plan: p.steps.map((s) => ({id: s.step.id, title: s.step.title, phase: s.step.phase})),
          facts: p.facts,
          agent_version: AGENT_VERSION,
          pid: process.pid,
        }
    const started = Date.parse(records.find((r) => r.type === 'run-start')?.ts ?? new Date().toISOString())
    const before = journal.lastSeq
    try {
      return await runSteps(p, state, run, journal, records, opening, started, () => reserve.release())
    } catch (e) {
      if (!(e instanceof DiskFullError)) throw e
      return endOnFullDisk(journal, run, e, {opened: journal.lastSeq > before, opening, started, reserve})
    }
  } finally {
    for (const s of signals) process.off(s, onSignal)
    reserve.release()
    lock.release()
  }
}

/** The run's records from its opening (run-start or run-resume) to its run-end. */
async function runSteps(p: PreparedRun, state: StateDir, run: string, journal: JournalWriter, records: JournalRecord[], opening: RecordBody, started: number, onDiskFull: () => void): Promise<RunResult> {
  journal.append(opening)
  journal.syncBehind()
  const done = doneSteps(records)
  const rebooted = rebootedSteps(records)
  const applied = p.req.mode === 'undo' ? appliedSteps(state) : new Set<string>()
  let failed: {step: string; error?: string; fault?: DiskFullError} | undefined
  const steps = [...p.steps]
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]
    if (done.has(s.step.id)) continue
    const outcome = await executeStep(s, p.req.mode, {
      journal,
      logPath: state.stepLog(run, s.step.id),
      secrets: p.playbook.secretValues,
      isRoot: p.facts.is_root,
      user: p.facts.user,
      index: i + 1,
      total: steps.length,
      rebooted: rebooted.has(s.step.id),
      appliedByHistory: applied.has(s.step.id),
      onDiskFull,
    })
    if (outcome.status === 'failed') {
      failed = {step: s.step.id, error: outcome.error, fault: outcome.fault}
      break
    }
    if (s.step.refresh_facts) {
      // The step wrote local facts (a probe's verdict): the steps after it are rendered with them.
      try {
        steps.splice(i + 1, Infinity, ...(await withEngines(() => prepareSteps(p.playbook, steps.slice(i + 1).map((x) => x.step), gatherFacts()))))
      } catch (e) {
        if (!(e instanceof UserError)) throw e
        failed = {step: s.step.id, error: `after it refreshed the facts: ${e.message}`}
        break
      }
    }
  }
  const status: RunStatus = failed ? 'failed' : 'ok'
  // A full disk is the host's fault, not the step's: its sentence alone is the run's error.
  const error = failed && (failed.fault?.message ?? `${failed.step}: ${failed.error ?? 'failed'}`)
  journal.append({type: 'run-end', status, duration_ms: Math.max(0, Date.now() - started), failed_step: failed?.step, error})
  journal.close()
  return {run, status, fault: failed?.fault}
}

/**
 * The disk refused a record of a run that is going: give the reserve back, then end
 * what was left open, each record as far as the disk allows (one it refuses is taken
 * back whole, see JournalWriter). The run ends failed with the sentence naming the file.
 */
function endOnFullDisk(journal: JournalWriter, run: string, fault: DiskFullError, o: {opened: boolean; opening: RecordBody; started: number; reserve: SpaceReserve}): RunResult {
  o.reserve.release()
  const asFarAsItGoes = (body: RecordBody) => {
    try {
      journal.append(body)
      return true
    } catch (e) {
      if (!(e instanceof DiskFullError)) throw e
      return false
    }
  }
  // The opening (run-start, run-resume) first, if it was what did not fit: a run-end needs a start.
  const opened = o.opened || asFarAsItGoes(o.opening)
  const step = journal.openStep
  if (opened && step) asFarAsItGoes({type: 'step-end', step: step.id, status: 'failed', exit_code: null, attempts: 0, duration_ms: Math.max(0, Date.now() - step.since), error: fault.message})
  if (opened && !journal.ended) asFarAsItGoes({type: 'run-end', status: 'failed', duration_ms: Math.max(0, Date.now() - o.started), failed_step: step?.id, error: fault.message})
  try {
    journal.close()
  } catch {
    // fsync refused too: the records are written, the disk keeps them if it can
  }
  return {run, status: 'failed', fault}
}

/** The run-end that closes a journal: the last one, unless a run-resume reopened the run after it. */
function lastRunEnd(records: JournalRecord[]): RunEndRecord | undefined {
  let end: RunEndRecord | undefined
  for (const r of records) {
    if (r.type === 'run-end') end = r
    else if (r.type === 'run-resume') end = undefined
  }
  return end
}

/**
 * The run this start carries on: the last one when it has the same inputs and did
 * not end (or the full disk ended it: resumed), or ended as this same --request
 * asked (answered with, as it is); else a new one.
 */
function openRun(state: StateDir, p: PreparedRun): {run: string; resumed: boolean; records: JournalRecord[]} | {run: string; ended: RunStatus} {
  const last = lastRunId(state)
  if (last) {
    const records = readJournal(state.journal(last))
    const end = lastRunEnd(records)
    // A run the full disk ended is picked up again as well, as one killed would be; with other inputs it stays ended.
    const stoppedByDisk = end?.status === 'failed' && noSpacePath(end.error) !== undefined
    const meta = records.length > 0 ? readMeta(state, last) : undefined
    const sameInputs = !!meta && resumeKey(meta) === resumeKey({...p.meta, run: last})
    if (sameInputs && end && !stoppedByDisk && p.meta.request !== undefined && meta.request === p.meta.request) return {run: last, ended: end.status}
    if (sameInputs && (!end || stoppedByDisk)) {
      // The request that resumes it is the one a lost answer is asked again with.
      if (meta.request !== p.meta.request) writeMeta(state, {...meta, request: p.meta.request})
      return {run: last, resumed: true, records}
    }
    if (records.length > 0 && !end) {
      const old = new JournalWriter(state.journal(last), last)
      old.append({type: 'run-end', status: 'abandoned', duration_ms: 0, error: 'replaced by a new run with a different playbook, vars or step selection'})
      old.close()
    }
  }
  const run = newRunId()
  createRun(state, {run, ...p.meta})
  return {run, resumed: false, records: []}
}

/** Reboot steps whose reboot has happened: journaled under another boot id, not yet ended. */
function rebootedSteps(records: JournalRecord[]): Set<string> {
  const out = new Set<string>()
  const now = bootId()
  for (const r of records) {
    if (r.type === 'reboot' && r.boot_id !== now) out.add(r.step)
    if (r.type === 'step-end') out.delete(r.step)
  }
  return out
}

/**
 * The lock's holder names its run a moment after taking the lock (two starts at
 * once): wait briefly for the name, so the one that lost can say which run won.
 */
async function holderWithRun(lockPath: string, holder: LockInfo): Promise<LockInfo> {
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20))
    const now = readLock(lockPath)
    if (!now || now.pid !== holder.pid || !isAlive(now)) return holder
    if (now.run) return now
  }
  return holder
}
