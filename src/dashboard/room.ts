import type {CellRow, EventRow, FleetStore, HostRow} from '../store/store.js'
import type {StatusHost, StatusReport} from '../ui/status-view.js'
import type {ReportInputs, RoomReports} from './room-report.js'

/**
 * What the page is sent, read from the store (the payloads of /api/snapshot, /api/host/NAME
 * and the event stream). Every `id` is the store's last events row the payload covers:
 * events rows are numbered in arrival order, so "everything after id N" is one indexed read.
 */

/** One cell of the grid: a step of a host's current agent run. */
export interface Cell {
  step: string
  idx: number
  title: string
  phase: string | null
  status: string
  /** How long it took (ended steps). */
  duration_ms: number | null
  /** How long it has been running when read (running steps; the page counts on from there). */
  running_ms: number | null
  attempts: number
}

/** A host's cells, with the agent run they belong to (a host row naming another run makes them stale). */
export interface HostCells {
  agent_run: string
  cells: Cell[]
}

/** The room as the report has it, without its host rows. */
export type RoomFigures = Omit<StatusReport, 'hosts'>

/** An output record for the live consoles. */
export interface OutputLine {
  id: number
  host: string
  step: string | null
  stream: string | null
  data: string
}

/** The whole room: the stream's first event on a fresh load, and /api/snapshot. */
export interface RoomSnapshot {
  id: number
  report: StatusReport
  /** By host name; hosts with no agent run yet have none. */
  steps: Record<string, HostCells>
}

/** What changed: host rows (whole), the room's figures, cells of hosts whose steps moved, new output. */
export interface RoomUpdate {
  id: number
  room?: RoomFigures
  hosts?: StatusHost[]
  steps?: Record<string, HostCells>
  output?: OutputLine[]
}

/** One host in depth: /api/host/NAME. */
export interface HostDetail {
  id: number
  host: StatusHost
  user: string | null
  transport: string
  steps: Cell[]
  /** The failing (else running) step's last lines. */
  log_tail: {step: string; title: string; status: string; lines: string[]} | null
  /** The host's recent output (its live console up to `id`; the stream carries on from there). */
  console: OutputLine[]
}

export const LOG_TAIL_LINES = 50
export const CONSOLE_RECORDS = 300

export function cellOf(s: CellRow, now: number): Cell {
  const running = s.status === 'running' && s.started_at ? Math.max(0, now - Date.parse(s.started_at)) : null
  return {step: s.step, idx: s.idx, title: s.title, phase: s.phase, status: s.status, duration_ms: s.duration_ms, running_ms: running, attempts: s.attempts}
}

/** The report's room-level figures (counts, error groups, room ETA, and whatever else it grows). */
export function roomFigures(report: StatusReport): RoomFigures {
  const {hosts: _hosts, ...room} = report
  return room
}

/** The whole room at one moment. Call inside a read transaction (FleetStore.readTx). */
export function readSnapshot(store: FleetStore, reports: RoomReports, inputs: ReportInputs): RoomSnapshot & {rows: HostRow[]} {
  const id = store.maxEventId()
  const {rows, report} = reports.report(inputs)
  const names = new Map(rows.map((h) => [h.id, h]))
  const steps: Record<string, HostCells> = {}
  for (const s of store.currentSteps()) {
    const h = names.get(s.host_id)
    if (!h) continue
    ;(steps[h.name] ??= {agent_run: s.agent_run, cells: []}).cells.push(cellOf(s, inputs.now))
  }
  return {id, report, steps, rows}
}

/** The cells of these hosts' current agent runs. */
export function readCells(store: FleetStore, rows: readonly HostRow[], hostIds: Iterable<number>, now: number): Record<string, HostCells> {
  const byId = new Map(rows.map((h) => [h.id, h]))
  const out: Record<string, HostCells> = {}
  for (const id of hostIds) {
    const h = byId.get(id)
    if (!h?.agent_run) continue
    out[h.name] = {agent_run: h.agent_run, cells: store.steps(h.id, h.agent_run).map((s) => cellOf(s, now))}
  }
  return out
}

/**
 * What stored records say changed: the hosts whose steps moved (steps rows change only when
 * a record other than output is stored) and the output lines.
 */
export function digestEvents(events: readonly EventRow[], rows: readonly HostRow[]): {touched: Set<number>; output: OutputLine[]} {
  const names = new Map(rows.map((h) => [h.id, h.name]))
  const touched = new Set<number>()
  const output: OutputLine[] = []
  for (const e of events) {
    if (e.type !== 'output') touched.add(e.host_id)
    else if (e.data !== null) output.push({id: e.id, host: names.get(e.host_id) ?? '', step: e.step, stream: e.stream, data: e.data})
  }
  return {touched, output}
}

/** One host in depth, or undefined when the store has no host by that name. Call inside a read transaction. */
export function readHostDetail(store: FleetStore, reports: RoomReports, inputs: ReportInputs, name: string): HostDetail | undefined {
  const h = store.host(name)
  if (!h) return undefined
  const id = store.maxEventId()
  const {report} = reports.report(inputs)
  const host = report.hosts.find((x) => x.name === name)!
  const steps = h.agent_run ? store.steps(h.id, h.agent_run) : []
  const failing = steps.find((s) => s.status === 'failed') ?? steps.find((s) => s.status === 'running')
  const tail = failing && h.agent_run ? store.logTail(h.id, h.agent_run, failing.step, LOG_TAIL_LINES) : ''
  const console = h.agent_run ? store.recentOutput(h.id, h.agent_run, CONSOLE_RECORDS).map((o) => ({id: o.id, host: name, step: o.step, stream: o.stream, data: o.data})) : []
  return {
    id,
    host,
    user: h.user,
    transport: h.transport,
    steps: steps.map((s) => cellOf(s, inputs.now)),
    log_tail: failing ? {step: failing.step, title: failing.title, status: failing.status, lines: tail === '' ? [] : tail.split('\n')} : null,
    console,
  }
}
