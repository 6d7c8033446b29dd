import type {HostFacts, JournalRecord, RunMode, RunStatus, StepStatus} from './records.js'

export interface StepSummary {
  id: string
  index: number
  title: string
  phase?: string
  status: StepStatus | 'running' | 'pending'
  reason?: string
  exit_code?: number | null
  attempts: number
  started?: string
  ended?: string
  duration_ms?: number
  error?: string
}

export interface RunSummary {
  run: string
  mode: RunMode
  playbook: {name: string; hash: string; path: string}
  facts?: HostFacts
  /** 'running' while no run-end has been journaled (the run may also have been killed). */
  state: RunStatus | 'running' | 'rebooting'
  started: string
  ended?: string
  current?: StepSummary
  steps: StepSummary[]
  last_seq: number
  failed_step?: string
  error?: string
}

/**
 * Reduce one run's records (in seq order) to its state: the same reading
 * for the agent's `status` and the orchestrator's view of a host.
 */
export function foldRun(records: Iterable<JournalRecord>): RunSummary | undefined {
  let summary: RunSummary | undefined
  const byId = new Map<string, StepSummary>()
  for (const r of records) {
    if (r.type === 'run-start') {
      summary = {
        run: r.run,
        mode: r.mode,
        playbook: r.playbook,
        facts: r.facts,
        state: 'running',
        started: r.ts,
        steps: r.plan.map((p, i) => ({id: p.id, index: i + 1, title: p.title, phase: p.phase, status: 'pending', attempts: 0})),
        last_seq: r.seq,
      }
      byId.clear()
      for (const s of summary.steps) byId.set(s.id, s)
      continue
    }
    if (!summary) continue
    summary.last_seq = r.seq
    switch (r.type) {
      case 'run-resume':
        summary.state = 'running'
        break
      case 'step-start': {
        const s = byId.get(r.step)
        if (!s) break
        s.status = 'running'
        s.started = r.ts
        s.ended = undefined
        s.attempts = Math.max(s.attempts, 1)
        summary.current = s
        break
      }
      case 'step-retry': {
        const s = byId.get(r.step)
        if (s) {
          s.attempts = r.attempt + 1
          s.error = r.error
        }
        break
      }
      case 'reboot':
        summary.state = 'rebooting'
        break
      case 'step-end': {
        const s = byId.get(r.step)
        if (!s) break
        s.status = r.status
        s.reason = r.reason
        s.exit_code = r.exit_code
        s.attempts = r.attempts
        s.duration_ms = r.duration_ms
        s.ended = r.ts
        s.error = r.error
        if (summary.state === 'rebooting') summary.state = 'running'
        break
      }
      case 'run-end':
        summary.state = r.status
        summary.ended = r.ts
        summary.failed_step = r.failed_step
        summary.error = r.error
        summary.current = r.failed_step ? byId.get(r.failed_step) : undefined
        break
    }
  }
  return summary
}

/** Steps journaled as done (ok or skipped): a resumed run does not repeat them. */
export function doneSteps(records: Iterable<JournalRecord>): Set<string> {
  const done = new Set<string>()
  for (const r of records) {
    if (r.type === 'step-end' && (r.status === 'ok' || r.status === 'skipped')) done.add(r.step)
    if (r.type === 'step-start') done.delete(r.step)
  }
  return done
}
