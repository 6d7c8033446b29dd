// The instructor's database: ingest rate (journal records into SQLite, batched per
// host in transactions as the orchestrator does) and `fleet status` on a big room.
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {packageRoot, withoutCaBundle} from '../src/remote-agent/local-agent.js'
import {PROTOCOL_VERSION, type JournalRecord} from '../src/protocol/index.js'
import {FleetStore} from '../src/store/store.js'
import {median, spread, timed} from './proc.js'

export interface StoreBenchOptions {
  hosts: number
  steps: number
  /** Events per step: step-start, (events - 2) output records, step-end. */
  eventsPerStep: number
  /** Records per store.ingest call (the orchestrator flushes at 500 or every 100 ms). */
  batch: number
  statusRounds: number
  log?: (line: string) => void
}

export interface StoreBenchResult {
  events: number
  ingestMs: number
  eventsPerSec: number
  /** Events per second of CPU in store.ingest: the rate on an otherwise idle core. */
  eventsPerCpuSec: number
  /** The same records again in small batches (what a live run's 100 ms flushes look like). */
  smallBatch: {batch: number; eventsPerSec: number}
  dbBytes: number
  status: {node: number[]; table: number[]; json: number[]}
}

const FACTS = {
  hostname: 'jumphost',
  user: 'ubuntu',
  home: '/home/ubuntu',
  is_root: false,
  os: {id: 'ubuntu', id_like: ['debian'], version_id: '24.04', version_major: 24, pretty_name: 'Ubuntu 24.04 LTS', family: 'debian'},
  kernel: '6.8.0-45-generic',
  arch: 'x64',
  cpus: 4,
  mem_mb: 15_842,
  has_systemd: true,
  virt: {kvm_device: true, cpu_flag: true, nested: true},
  boot_id: '5b7a6c1e-9d1f-4a59-8f0e-2f6f3c1d9a00',
}

/** One host's whole journal: a run of `steps` steps with `eventsPerStep` records each. Host k % 33 == 7 fails its last step; k % 50 == 3 is still running. */
export function journal(k: number, steps: number, eventsPerStep: number): JournalRecord[] {
  const run = `20261124T0900${String(k % 60).padStart(2, '0')}Z-${k.toString(16).padStart(6, '0')}`
  const t0 = Date.parse('2026-11-24T09:00:00Z') + k * 10
  let seq = 0
  const rec = (r: Record<string, unknown>, ms: number) => ({v: PROTOCOL_VERSION, seq: ++seq, ts: new Date(t0 + ms).toISOString(), run, ...r}) as unknown as JournalRecord
  const out: JournalRecord[] = []
  const plan = Array.from({length: steps}, (_, i) => ({id: `step-${i + 1}`, title: `Step ${i + 1} of the workshop`, phase: `phase-${Math.floor(i / 10) + 1}`}))
  out.push(rec({type: 'run-start', mode: 'run', playbook: {name: 'workshop', hash: 'a1b2c3d4e5f60718', path: '/home/ubuntu/.fleet/bundles/a1b2c3d4e5f60718/playbooks/workshop.yaml'}, selection: {}, plan, facts: FACTS, agent_version: '0.1.0', pid: 4242}, 0))
  const failing = k % 33 === 7
  const running = k % 50 === 3
  for (let i = 0; i < steps; i++) {
    const step = plan[i].id
    const t = i * 1000
    out.push(rec({type: 'step-start', step, index: i + 1, total: steps, title: plan[i].title, phase: plan[i].phase, action: 'run'}, t))
    for (let j = 0; j < eventsPerStep - 2; j++) {
      out.push(rec({type: 'output', step, stream: j % 7 === 6 ? 'stderr' : 'stdout', data: `Setting up package-${j} (1.${i}.${j}-1ubuntu1) ... progress ${j}/${eventsPerStep - 2} on host ${k}\n`}, t + j * 10))
    }
    const fail = failing && i === steps - 1
    if (running && i === steps - 1) return out
    out.push(rec({type: 'step-end', step, status: fail ? 'failed' : 'ok', exit_code: fail ? 2 : 0, duration_ms: 900, attempts: 1, ...(fail ? {error: 'E: Unable to locate package ironic-python-agent'} : {})}, t + 900))
  }
  out.push(rec({type: 'run-end', status: failing ? 'failed' : 'ok', duration_ms: steps * 1000, ...(failing ? {failed_step: plan[steps - 1].id, error: `${plan[steps - 1].id}: E: Unable to locate package ironic-python-agent`} : {})}, steps * 1000))
  return out
}

/**
 * Ingest every host's journal the way the orchestrator does: per host, `batch` records
 * per transaction, hosts interleaved (50 at a time, like a room's followers flushing).
 * Returns the events stored and the time spent in store.ingest alone.
 */
export function ingestAll(store: FleetStore, ids: number[], opts: StoreBenchOptions, batch: number): {events: number; ms: number; cpuMs: number} {
  let events = 0
  let ms = 0
  let cpuUs = 0
  for (let g = 0; g < ids.length; g += 50) {
    const group = ids.slice(g, g + 50).map((id, i) => ({id, records: journal(g + i, opts.steps, opts.eventsPerStep), at: 0}))
    for (let more = true; more; ) {
      more = false
      for (const h of group) {
        if (h.at >= h.records.length) continue
        const chunk = h.records.slice(h.at, h.at + batch)
        h.at += chunk.length
        more = true
        const c0 = process.cpuUsage()
        const t0 = process.hrtime.bigint()
        events += store.ingest(h.id, chunk)
        ms += Number(process.hrtime.bigint() - t0) / 1e6
        const c = process.cpuUsage(c0)
        cpuUs += c.user + c.system
      }
    }
  }
  return {events, ms, cpuMs: cpuUs / 1000}
}

export async function storeBench(opts: StoreBenchOptions): Promise<StoreBenchResult> {
  const log = opts.log ?? (() => undefined)
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-store-'))
  try {
    const db = join(dir, 'room.db')
    const store = FleetStore.open(db)
    const run = store.startRun('prepare', '/bench/workshop.yaml', '/bench/hosts.txt', {})
    const ids: number[] = []
    for (let k = 0; k < opts.hosts; k++) {
      const id = store.upsertHost({name: `lab-${String(k + 1).padStart(4, '0')}`, address: `10.0.${Math.floor(k / 250)}.${(k % 250) + 1}`, user: 'ubuntu'})
      store.claimHost(id, run)
      ids.push(id)
    }
    log(`store: ingesting ${opts.hosts} hosts × ${opts.steps} steps × ${opts.eventsPerStep} events`)
    const big = ingestAll(store, ids, opts, opts.batch)
    store.endRun(run, 'failed')
    store.close()
    const dbBytes = statSync(db).size
    // The same again into a fresh database, in the small batches of a live run.
    const small = 20
    const db2 = join(dir, 'small.db')
    const store2 = FleetStore.open(db2)
    const ids2 = Array.from({length: Math.min(opts.hosts, 100)}, (_, k) => store2.upsertHost({name: `lab-${k}`, address: `10.1.0.${k + 1}`}))
    const smallRun = ingestAll(store2, ids2, opts, small)
    store2.close()
    rmSync(db2, {force: true})
    log(`store: ${big.events} events in ${(big.ms / 1000).toFixed(2)} s of store.ingest (${Math.round((big.events / big.ms) * 1000)}/s; ${Math.round((big.events / big.cpuMs) * 1000)} per CPU-second); batches of ${small}: ${Math.round((smallRun.events / smallRun.ms) * 1000)}/s`)

    // `fleet status` and `fleet status --json` against a bare `node -e 0`, interleaved.
    const fleet = join(packageRoot(), 'dist/fleet/fleet.mjs')
    // Both without this machine's NODE_EXTRA_CA_CERTS (withoutCaBundle): ~30 ms on every start, on both sides of the ratio.
    const env = {...withoutCaBundle(process.env), NO_COLOR: '1', COLUMNS: '160'}
    const status = {node: [] as number[], table: [] as number[], json: [] as number[]}
    for (let i = 0; i < opts.statusRounds; i++) {
      status.node.push((await timed([process.execPath, '-e', '0'], {env})).ms)
      const t = await timed([process.execPath, fleet, 'status', '--db', db], {env, okCodes: [0, 1]})
      if (!t.stdout.includes('lab-0001')) throw new Error(`fleet status printed no host rows: ${t.stdout.slice(0, 300)}`)
      status.table.push(t.ms)
      const j = await timed([process.execPath, fleet, 'status', '--db', db, '--json'], {env, okCodes: [0, 1]})
      if ((JSON.parse(j.stdout) as {hosts: unknown[]}).hosts.length !== opts.hosts) throw new Error('fleet status --json: wrong number of hosts')
      status.json.push(j.ms)
    }
    log(`status: node -e 0 ${median(status.node).toFixed(0)} ms (±${spread(status.node).toFixed(0)}), fleet status ${median(status.table).toFixed(0)} ms, --json ${median(status.json).toFixed(0)} ms`)
    return {events: big.events, ingestMs: big.ms, eventsPerSec: (big.events / big.ms) * 1000, eventsPerCpuSec: (big.events / big.cpuMs) * 1000, smallBatch: {batch: small, eventsPerSec: (smallRun.events / smallRun.ms) * 1000}, dbBytes, status}
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
