import {countStates, HOST_STATES, type HostState} from '../events/host-state.js'
import type {HostRow, StepRow} from '../store/store.js'
import {columns} from './columns.js'

export interface StatusHost {
  name: string
  address: string
  state: HostState
  step: string
  elapsed_s: number | null
  error: string | null
  agent_run: string | null
}

export interface StatusReport {
  counts: Record<HostState, number>
  hosts: StatusHost[]
  /** Identical errors on several hosts, most frequent first. */
  error_groups: Array<{count: number; error: string; hosts: string[]}>
}

function elapsed(h: HostRow, now: number): number | null {
  if (!h.started_at) return null
  const end = h.ended_at && ['ok', 'failed', 'unreachable'].includes(h.state) ? Date.parse(h.ended_at) : now
  return Math.max(0, Math.round((end - Date.parse(h.started_at)) / 1000))
}

/** The step column: "k/N title" while a run is known, else nothing. */
function stepText(h: HostRow): string {
  if (h.step_index && h.step_total) return `${h.step_index}/${h.step_total} ${h.step_title ?? h.step_id ?? ''}`
  return h.step_total ? `0/${h.step_total}` : ''
}

export function buildReport(rows: HostRow[], now = Date.now()): StatusReport {
  const counts = countStates(rows.map((h) => h.state))
  const groups = new Map<string, string[]>()
  for (const h of rows) if (h.error && h.state !== 'ok') groups.set(h.error, [...(groups.get(h.error) ?? []), h.name])
  return {
    counts,
    hosts: rows.map((h) => ({name: h.name, address: h.port && h.port !== 22 ? `${h.address}:${h.port}` : h.address, state: h.state, step: stepText(h), elapsed_s: elapsed(h, now), error: h.error, agent_run: h.agent_run})),
    error_groups: [...groups.entries()].map(([error, hosts]) => ({count: hosts.length, error, hosts})).sort((a, b) => b.count - a.count),
  }
}

export function formatDuration(s: number | null): string {
  if (s === null) return ''
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

export function countsLine(counts: Record<HostState, number>): string {
  return HOST_STATES.map((s) => `${s} ${counts[s]}`).join('  ')
}

/** `fleet status`: counts, then one row per host, then grouped errors. */
export function renderReport(r: StatusReport, width = process.stdout.columns || 120): string {
  const out = [countsLine(r.counts), '']
  const errWidth = Math.max(20, width - 90)
  const rows = r.hosts.map((h) => [h.name, h.address, h.step.slice(0, 40), h.state, formatDuration(h.elapsed_s), (h.error ?? '').slice(0, errWidth)])
  out.push(columns(['HOST', 'ADDRESS', 'STEP', 'STATE', 'ELAPSED', 'ERROR'], rows))
  const grouped = r.error_groups.filter((g) => g.count > 1)
  if (grouped.length) {
    out.push('', 'Errors on several hosts:')
    for (const g of grouped) out.push(`  ${g.count} hosts: ${g.error}`)
  }
  return out.join('\n') + '\n'
}

/** `fleet status --host NAME`: the host's steps with durations, and the failing step's log tail. */
export function renderHost(h: HostRow, steps: StepRow[], tail: {step: string; text: string} | undefined): string {
  const out = [`${h.name} (${h.user ? `${h.user}@` : ''}${h.address}${h.port ? `:${h.port}` : ''}): ${h.state}${h.agent_run ? `, agent run ${h.agent_run}` : ''}`]
  if (h.error) out.push(`error: ${h.error}`)
  out.push('')
  const rows = steps.map((s) => [String(s.idx), s.step, s.status, s.duration_ms === null ? '' : formatDuration(Math.round(s.duration_ms / 1000)), s.attempts ? String(s.attempts) : '', s.status === 'failed' ? (s.error ?? '') : (s.reason ?? '')])
  out.push(columns(['#', 'STEP', 'STATUS', 'TIME', 'ATTEMPTS', 'NOTE'], rows))
  if (tail) out.push('', `Last lines of ${tail.step}:`, ...tail.text.split('\n').map((l) => `  ${l}`))
  return out.join('\n') + '\n'
}
