import {spawnSync} from 'node:child_process'
import {UserError} from '../errors/user-error.js'
import {loadPlaybook} from '../playbook/load.js'
import {prepareSteps, type PreparedStep} from '../playbook/prepare.js'
import {selectSteps, selectUndoSteps} from '../playbook/select.js'
import type {Playbook} from '../playbook/types.js'
import {doneSteps, type HostFacts, type JournalRecord, type RunMode, type RunStatus, type StartKind} from '../protocol/index.js'
import {AGENT_VERSION} from './version.js'
import {bootId, gatherFacts} from './facts.js'
import {killAllRunning} from './exec.js'
import {JournalWriter, readJournal} from './journal.js'
import {HostLock, isAlive, readLock, type LockInfo} from './lock.js'
import {appliedSteps, createRun, lastRunId, newRunId, readMeta, resumeKey, type RunMeta} from './runs.js'
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
}

/** Everything that can be checked before a run changes anything: playbook, vars, selection, templates, sudo. */
export function prepareRun(req: RunRequest): PreparedRun {
  const playbook = loadPlaybook(req.playbookPath, req.varsPath)
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
  let journal: JournalWriter | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    // No run-end: a run stopped by a signal is resumed by the next start.
    killAllRunning('SIGTERM')
    journal?.sync()
    lock.release()
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15))
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const s of signals) process.on(s, onSignal)
  try {
    const {run, resumed, records} = openRun(state, p)
    lock.setRun(run)
    journal = new JournalWriter(state.journal(run), run)
    if (hooks.onRecord) journal.onRecord(hooks.onRecord)
    hooks.onStart?.({kind: resumed ? 'resumed' : 'started', run})
    const done = doneSteps(records)
    const rebooted = rebootedSteps(records)
    if (resumed) journal.append({type: 'run-resume', pid: process.pid, boot_id: bootId(), done: [...done]})
    else {
      journal.append({
        type: 'run-start',
        mode: p.req.mode,
        playbook: {name: p.playbook.name, hash: p.playbook.hash, path: p.playbook.path},
        selection: {only: p.req.only, from_step: p.req.fromStep ?? p.req.toStep},
        plan: p.steps.map((s) => ({id: s.step.id, title: s.step.title, phase: s.step.phase})),
        facts: p.facts,
        agent_version: AGENT_VERSION,
        pid: process.pid,
      })
    }
    journal.sync()
    const started = Date.parse(records.find((r) => r.type === 'run-start')?.ts ?? new Date().toISOString())
    const applied = p.req.mode === 'undo' ? appliedSteps(state) : new Set<string>()
    let failed: {step: string; error?: string} | undefined
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
      })
      if (outcome.status === 'failed') {
        failed = {step: s.step.id, error: outcome.error}
        break
      }
      if (s.step.refresh_facts) {
        // The step wrote local facts (a probe's verdict): the steps after it are rendered with them.
        try {
          steps.splice(i + 1, Infinity, ...prepareSteps(p.playbook, steps.slice(i + 1).map((x) => x.step), gatherFacts()))
        } catch (e) {
          if (!(e instanceof UserError)) throw e
          failed = {step: s.step.id, error: `after it refreshed the facts: ${e.message}`}
          break
        }
      }
    }
    const status: RunStatus = failed ? 'failed' : 'ok'
    journal.append({type: 'run-end', status, duration_ms: Math.max(0, Date.now() - started), failed_step: failed?.step, error: failed && `${failed.step}: ${failed.error ?? 'failed'}`})
    journal.close()
    return {run, status}
  } finally {
    for (const s of signals) process.off(s, onSignal)
    lock.release()
  }
}

function openRun(state: StateDir, p: PreparedRun): {run: string; resumed: boolean; records: JournalRecord[]} {
  const last = lastRunId(state)
  if (last) {
    const records = readJournal(state.journal(last))
    const unfinished = records.length > 0 && !records.some((r) => r.type === 'run-end')
    if (unfinished) {
      const meta = readMeta(state, last)
      if (meta && resumeKey(meta) === resumeKey({...p.meta, run: last})) return {run: last, resumed: true, records}
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
