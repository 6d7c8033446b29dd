import {existsSync} from 'node:fs'
import {readerGone} from './closed-reader.js'
import {UserError} from '../errors/user-error.js'
import {isFinalState} from '../events/host-state.js'
import {FleetStore} from '../store/store.js'
import {storeTails} from './room-errors.js'
import {roomEta, type TimeoutCache} from './room-eta.js'
import {buildReport, renderHost, renderReport} from './status-view.js'

export interface StatusOptions {
  db: string
  host?: string
  json: boolean
  watch: boolean
  lines: number
}

interface View {
  out: string
  allOk: boolean
  done: boolean
}

/**
 * `fleet status`, for the oclif command and the CLI's fast path alike: the room
 * (or one host) from the store's summary rows, once or every second with --watch.
 * Returns the exit code: 0 when every host shown is ok.
 */
export async function showStatus(opts: StatusOptions, write: (text: string) => void): Promise<number> {
  if (!existsSync(opts.db)) throw new UserError(`${opts.db}: no fleet database here yet; run "fleet prepare --hosts FILE" first (or give --db).`)
  // Read-only: a status changes nothing, and works on a database this user may only read.
  const store = FleetStore.openReadOnly(opts.db)
  const timeouts: TimeoutCache = new Map()
  try {
    for (;;) {
      const view = opts.host ? hostView(store, opts.host, opts.json, opts.lines) : await roomView(store, opts.json, timeouts)
      if (opts.watch && process.stdout.isTTY) write('\x1b[H\x1b[2J')
      write(view.out)
      if (!opts.watch || view.done || readerGone(process.stdout)) return view.allOk ? 0 : 1
      await new Promise((r) => setTimeout(r, 1000))
    }
  } finally {
    store.close()
  }
}

async function roomView(store: FleetStore, json: boolean, timeouts: TimeoutCache): Promise<View> {
  const now = Date.now()
  const eta = await roomEta(store, now, timeouts)
  const report = buildReport(store.hosts(), now, {errorTails: storeTails(store), eta})
  const allOk = report.hosts.length > 0 && report.counts.ok === report.hosts.length
  const done = report.counts.pending + report.counts.connecting + report.counts.running === 0
  return {out: json ? JSON.stringify(report) + '\n' : renderReport(report), allOk, done}
}

function hostView(store: FleetStore, name: string, json: boolean, lines: number): View {
  const h = store.host(name)
  if (!h) throw new UserError(`--host: no host named "${name}" in ${store.path} (hosts: ${store.hosts().map((x) => x.name).slice(0, 10).join(', ')}).`)
  const steps = h.agent_run ? store.steps(h.id, h.agent_run) : []
  const failing = steps.find((s) => s.status === 'failed') ?? steps.find((s) => s.status === 'running')
  const tail = failing && h.agent_run ? {step: failing.step, text: store.logTail(h.id, h.agent_run, failing.step, lines)} : undefined
  const out = json ? JSON.stringify({host: h, steps, log_tail: tail}) + '\n' : renderHost(h, steps, tail)
  return {out, allOk: h.state === 'ok', done: isFinalState(h.state)}
}
