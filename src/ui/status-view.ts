import {countStates, HOST_STATES, isFinalState, type HostState} from '../events/host-state.js'
import type {HostRow, StepRow} from '../store/store.js'
import {columns} from './columns.js'
import type {RoomEta} from './eta.js'
import type {ErrorGroup} from './error-signature.js'
import {roomErrorGroups, type TailReader} from './room-errors.js'

export interface StatusHost {
  name: string
  address: string
  state: HostState
  step: string
  elapsed_s: number | null
  error: string | null
  agent_run: string | null
  /** Seconds until the host is done, from its peers (src/ui/eta.ts); null when unknown or finished. */
  eta_s: number | null
}

export interface StatusReport {
  counts: Record<HostState, number>
  hosts: StatusHost[]
  /**
   * Failed and unreachable hosts grouped by (state, step, error signature), most hosts first:
   * count, one real example line (`error`), hosts, and step, signature, label, state, detail.
   */
  error_groups: ErrorGroup[]
  /** Seconds until the last unfinished host is done; null when unknown or none is left. */
  room_eta_s: number | null
}

function elapsed(h: HostRow, now: number): number | null {
  if (!h.started_at) return null
  const end = h.ended_at && isFinalState(h.state) ? Date.parse(h.ended_at) : now
  return Math.max(0, Math.round((end - Date.parse(h.started_at)) / 1000))
}

/** The step column: "k/N title" while a run is known, else nothing. */
function stepText(h: HostRow): string {
  if (h.step_index && h.step_total) return `${h.step_index}/${h.step_total} ${h.step_title ?? h.step_id ?? ''}`
  return h.step_total ? `0/${h.step_total}` : ''
}

/** `errorTails`: a failed step's last log lines, read when its error line is generic (room-errors.ts storeTails). `eta`: from room-eta.ts. */
export function buildReport(rows: HostRow[], now = Date.now(), opts: {errorTails?: TailReader; eta?: RoomEta} = {}): StatusReport {
  const counts = countStates(rows.map((h) => h.state))
  return {
    counts,
    hosts: rows.map((h) => ({name: h.name, address: h.port && h.port !== 22 ? `${h.address}:${h.port}` : h.address, state: h.state, step: stepText(h), elapsed_s: elapsed(h, now), error: h.error, agent_run: h.agent_run, eta_s: opts.eta?.hosts.get(h.id) ?? null})),
    error_groups: roomErrorGroups(rows, opts.errorTails),
    room_eta_s: opts.eta?.room_s ?? null,
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

/** The ETA column: `~4m10s`, nothing for a finished host, `?` when unknown. */
function etaCell(h: StatusHost): string {
  if (h.eta_s !== null) return `~${formatDuration(h.eta_s)}`
  return isFinalState(h.state) ? '' : '?'
}

/** The room's line, while some host is not finished: `room ready in ~12m`, or unknown and why. */
export function roomEtaLine(r: StatusReport): string | undefined {
  if (r.counts.pending + r.counts.connecting + r.counts.running === 0) return undefined
  const s = r.room_eta_s
  if (s === null) return 'room ready in: unknown (a step ahead has no host that finished it yet and no timeout in the playbook)'
  const m = Math.ceil(s / 60) // rounded up: a room is not promised sooner than estimated
  return `room ready in ~${s < 60 ? `${s}s` : m < 60 ? `${m}m` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`}`
}

/** `fleet status`: counts (and the room's ETA), then one row per host, then grouped errors. */
export function renderReport(r: StatusReport, width = process.stdout.columns || 120): string {
  const room = roomEtaLine(r)
  const out = [countsLine(r.counts), ...(room ? [room] : []), '']
  const errWidth = Math.max(20, width - 99)
  const rows = r.hosts.map((h) => [h.name, h.address, h.step.slice(0, 40), h.state, formatDuration(h.elapsed_s), etaCell(h), (h.error ?? '').slice(0, errWidth)])
  out.push(columns(['HOST', 'ADDRESS', 'STEP', 'STATE', 'ELAPSED', 'ETA', 'ERROR'], rows))
  out.push(...renderErrorGroups(r.error_groups, width))
  return out.join('\n') + '\n'
}

/** Error groups shown before `… more` (all of them are in --json). */
const ERROR_GROUPS_SHOWN = 20

/**
 * The error groups under the host table: failed hosts, then unreachable ones apart (a
 * switched-off laptop is not a broken lab), each group a row: how many, the step, the hosts
 * folded, one real example line (and the log line behind a generic one).
 */
export function renderErrorGroups(groups: readonly ErrorGroup[], width = 120): string[] {
  const out: string[] = []
  for (const [state, title] of [['failed', 'Failed hosts by error'], ['unreachable', 'Unreachable hosts by error']] as const) {
    const mine = groups.filter((g) => g.state === state)
    if (!mine.length) continue
    const shown = mine.slice(0, ERROR_GROUPS_SHOWN)
    const lead = Math.max(...shown.map((g) => String(g.count).length + (g.step ?? '-').length + g.label.length)) + 8
    const exWidth = Math.max(30, width - lead - 2)
    const example = (g: ErrorGroup) => {
      const text = (g.error || '(no error recorded)') + (g.detail.length ? ` (${g.detail.join(' / ')})` : '')
      return text.length > exWidth ? `${text.slice(0, exWidth - 1)}…` : text
    }
    out.push('', `${title}, most hosts first:`)
    const table = columns(['N', 'STEP', 'HOSTS', 'EXAMPLE'], shown.map((g) => [String(g.count), g.step ?? '-', g.label, example(g)]))
    out.push(...table.split('\n').map((l) => `  ${l}`))
    if (mine.length > shown.length) out.push(`  … ${mine.length - shown.length} more groups (fleet status --json has them all)`)
  }
  return out
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
