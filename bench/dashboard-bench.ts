// `fleet dashboard` under a room's load: a store of N hosts × 40 steps (a fifth of them still
// running), the server started as a user starts it, one real Chromium page and 19 more event
// streams (20 open pages; the 19 are plain HTTP clients of /events, which is all a page's
// stream is to the server). Measured: the page's first full paint of the snapshot against
// `fleet status --json` on the same store (the same room report, from a cold process); the
// time from a record stored to it arriving on every stream; and the server's CPU while the
// running hosts stream output, side by side with `fleet status --watch` (the terminal view
// of the same room) over the same window; the server's peak RSS.
import {spawn, type ChildProcess} from 'node:child_process'
import {get} from 'node:http'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PROTOCOL_VERSION, type JournalRecord} from '../src/protocol/index.js'
import {packageRoot} from '../src/remote-agent/local-agent.js'
import {FleetStore} from '../src/store/store.js'
import {median, timed} from './proc.js'
import {journal} from './store-bench.js'

export interface DashboardBenchOptions {
  hosts: number
  rounds: number
  /** Seconds of streaming for the CPU figure. */
  streamSeconds: number
  log?: (line: string) => void
}

export interface DashboardBenchResult {
  hosts: number
  running: number
  paintMs: number[]
  statusJsonMs: number[]
  latencyMs: number[]
  /** % of one core, over the streaming window. */
  serverCpuPct: number
  statusWatchCpuPct: number
  recordsPerSec: number
  rssMb: number
  pages: number
}

const STEPS = 40
const EVENTS_PER_STEP = 6
const STREAMS = 19

/** utime + stime of a process, ms. */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100
}

function peakRssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/)
  return m ? Number(m[1]) / 1024 : 0
}

/** The store: every host's journal, the running ones cut off in the middle of step 20. */
export function buildStore(db: string, hosts: number): {running: Array<{id: number; run: string; seq: number}>} {
  const store = FleetStore.open(db)
  const run = store.startRun('prepare', '/bench/workshop.yaml', '/bench/hosts.txt', {})
  const running: Array<{id: number; run: string; seq: number}> = []
  for (let k = 0; k < hosts; k++) {
    const id = store.upsertHost({name: `lab-${String(k + 1).padStart(4, '0')}`, address: `10.0.${Math.floor(k / 250)}.${(k % 250) + 1}`, user: 'ubuntu'})
    store.claimHost(id, run)
    let records = journal(k, STEPS, EVENTS_PER_STEP)
    if (k % 5 === 4) {
      // Running: up to the first output of step 20.
      const at = records.findIndex((r) => r.type === 'step-start' && r.index === 20)
      records = records.slice(0, at + 2)
      running.push({id, run: records[0].run, seq: records.at(-1)!.seq})
      store.setHostState(id, 'running')
    }
    for (let i = 0; i < records.length; i += 500) store.ingest(id, records.slice(i, i + 500))
  }
  store.close()
  return {running}
}

interface Stream {
  close(): void
  /** Resolves when an update carrying `marker` in its output arrived. */
  waitFor(marker: string): Promise<number>
}

/** One page's event stream, as the browser's EventSource reads it. */
function openStream(url: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const waiting = new Map<string, (t: number) => void>()
    const seen = new Map<string, number>()
    const req = get(url, {headers: {Accept: 'text/event-stream'}}, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`/events answered ${res.statusCode}`))
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        const now = performance.now()
        buf += d
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const data = block.split('\n').find((l) => l.startsWith('data: '))
          if (!data || !data.includes('bench-mark-')) continue
          for (const m of data.matchAll(/bench-mark-\d+/g)) {
            seen.set(m[0], now)
            waiting.get(m[0])?.(now)
          }
        }
      })
      resolve({
        close: () => req.destroy(),
        waitFor: (marker) => (seen.has(marker) ? Promise.resolve(seen.get(marker)!) : new Promise((r) => waiting.set(marker, r))),
      })
    })
    req.on('error', reject)
  })
}

function startDashboard(db: string): Promise<{child: ChildProcess; url: string}> {
  const fleet = join(packageRoot(), 'dist/fleet/fleet.mjs')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fleet, 'dashboard', '--db', db, '--listen', '127.0.0.1:0', '--json'], {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8')
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line) resolve({child, url: (JSON.parse(line) as {url: string}).url})
    })
    child.on('exit', (code) => reject(new Error(`fleet dashboard exited with ${code}`)))
  })
}

export async function dashboardBench(opts: DashboardBenchOptions): Promise<DashboardBenchResult> {
  const log = opts.log ?? (() => undefined)
  const {chromium} = await import('playwright-core')
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-dashboard-'))
  const db = join(dir, 'room.db')
  log(`dashboard: a store of ${opts.hosts} hosts × ${STEPS} steps`)
  const {running} = buildStore(db, opts.hosts)
  const {child, url} = await startDashboard(db)
  const browser = await chromium.launch({executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage']})
  const streams: Stream[] = []
  try {
    const fleet = join(packageRoot(), 'dist/fleet/fleet.mjs')
    const last = `lab-${String(opts.hosts).padStart(4, '0')}`
    const paintMs: number[] = []
    const statusJsonMs: number[] = []
    let page = await browser.newPage({viewport: {width: 1920, height: 1080}})
    for (let i = 0; i < opts.rounds; i++) {
      // A fresh page each round, as a projector's browser opens it once (a reload would also time tearing down the last grid).
      if (i > 0) {
        await page.close()
        page = await browser.newPage({viewport: {width: 1920, height: 1080}})
      }
      const t0 = performance.now()
      await page.goto(url)
      // The snapshot is painted when the last host's row is in the grid with its cells.
      // Runs in the page (a function: the page's CSP allows no eval); typed by hand, this file has no DOM types.
      type Doc = {querySelector(s: string): {querySelectorAll(s: string): {length: number}} | null}
      await page.waitForFunction(
        (name: string) => {
          const row = (globalThis as unknown as {document: Doc}).document.querySelector(`#grid tbody tr[data-host="${name}"]`)
          return !!row && row.querySelectorAll('td').length > 10
        },
        last,
        {timeout: 60_000, polling: 'raf'},
      )
      paintMs.push(performance.now() - t0)
      const j = await timed([process.execPath, fleet, 'status', '--db', db, '--json'], {okCodes: [0, 1]})
      statusJsonMs.push(j.ms)
    }
    log(`dashboard: first paint ${median(paintMs).toFixed(0)} ms, fleet status --json ${median(statusJsonMs).toFixed(0)} ms`)
    for (let i = 0; i < STREAMS; i++) streams.push(await openStream(new URL('/events', url).href))

    // The running hosts stream: each sends a few output records a second, as a room's
    // followers flush them (one transaction per host per flush); every second one record
    // carries a marker whose arrival on every stream is timed.
    const writer = FleetStore.open(db)
    const watch = spawn(process.execPath, [fleet, 'status', '--db', db, '--watch'], {stdio: ['ignore', 'ignore', 'ignore'], env: {...process.env, NO_COLOR: '1'}})
    const latencyMs: number[] = []
    let records = 0
    await new Promise((r) => setTimeout(r, 1500))
    const cpu0 = {server: cpuMsOf(child.pid!), watch: cpuMsOf(watch.pid!), t: performance.now()}
    for (let s = 0; s < opts.streamSeconds; s++) {
      const tick = performance.now()
      const marker = `bench-mark-${s}`
      let stored = 0
      for (const [i, h] of running.entries()) {
        const batch: JournalRecord[] = []
        for (let n = 0; n < 5; n++) {
          const data = i === 0 && n === 0 ? `${marker}\n` : `Unpacking python3-ironic (1:21.4.${s}-0ubuntu1) over (21.4.${s - 1}) ... line ${n}\n`
          batch.push({v: PROTOCOL_VERSION, seq: ++h.seq, ts: new Date().toISOString(), run: h.run, type: 'output', step: 'step-20', stream: 'stdout', data} as JournalRecord)
        }
        writer.ingest(h.id, batch)
        records += batch.length
        if (i === 0) stored = performance.now()
      }
      const arrived = await Promise.all(streams.map((st) => st.waitFor(marker)))
      for (const t of arrived) latencyMs.push(t - stored)
      const rest = 1000 - (performance.now() - tick)
      if (rest > 0) await new Promise((r) => setTimeout(r, rest))
    }
    const wall = performance.now() - cpu0.t
    const serverCpuPct = ((cpuMsOf(child.pid!) - cpu0.server) / wall) * 100
    const statusWatchCpuPct = ((cpuMsOf(watch.pid!) - cpu0.watch) / wall) * 100
    watch.kill()
    writer.close()
    const rssMb = peakRssMb(child.pid!)
    log(`dashboard: update latency median ${median(latencyMs).toFixed(0)} ms; server CPU ${serverCpuPct.toFixed(1)}% vs fleet status --watch ${statusWatchCpuPct.toFixed(1)}%; RSS ${rssMb.toFixed(0)} MB`)
    return {hosts: opts.hosts, running: running.length, paintMs, statusJsonMs, latencyMs, serverCpuPct, statusWatchCpuPct, recordsPerSec: (records / wall) * 1000, rssMb, pages: STREAMS + 1}
  } finally {
    for (const s of streams) s.close()
    await browser.close()
    child.kill()
    rmSync(dir, {recursive: true, force: true})
  }
}
