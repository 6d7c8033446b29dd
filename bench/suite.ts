// The benchmark suite: fan-out against Ansible and parallel-ssh, `fleet status`,
// store ingest, fleet's memory, and the agent's per-step overhead. One table,
// printed, and (full mode) written to BENCHMARKS.md between the bench markers.
// Run through bench/run.mjs (`npm run bench [-- --quick]`).
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus, totalmem} from 'node:os'
import {join} from 'node:path'
// @ts-expect-error plain JavaScript module without types
import {agentOverhead} from './agent-overhead.mjs'
import {agentStartup, agentStartupRow} from './agent-startup.js'
import {packageRoot} from '../src/remote-agent/local-agent.js'
import {fanOutBench, type FanOutResult, type Method} from './fanout.js'
import {ensurePeers, peerVersions} from './peers.js'
import {median, sec, spread, versionOf} from './proc.js'
import {storeBench, type StoreBenchResult} from './store-bench.js'
import {dashboardBench, type DashboardBenchResult} from './dashboard-bench.js'
import {roomCacheBench, type RoomCacheResult} from './room-cache-bench.js'
import {wanBench, type WanResult} from './wan.js'

export interface Row {
  /** Stable key: a row not measured this time keeps its last figures. */
  key: string
  name: string
  fleet: string
  peer: string
  ratio: string
  figure: string
  target: string
  met: boolean | null
}

export interface SuiteOptions {
  quick: boolean
  /** Fan-out sizes (hosts). Default: quick 5 and 20, full 50 and 200. */
  sizes?: number[]
  /** Rounds of every benchmark; `sizeRounds` overrides it per fan-out size (the i-th for sizes[i]). */
  rounds?: number
  sizeRounds?: number[]
  /** Which benchmarks: fanout, status, ingest, agent, dashboard, cache, wan (memory comes with fanout). Default all. */
  only?: string[]
  /** Fan-out methods (default all three); fewer for quick iteration on one comparison. */
  methods?: Method[]
  /** Called with every row measured so far, after each benchmark (the full mode writes BENCHMARKS.md as it goes). */
  onRows?: (rows: Row[]) => void
  log?: (line: string) => void
}

const TARGET = {ansible: 0.1, pssh: 0.8, instructorCpu: 0.1, status: 3, ingest: 100_000, paintMs: 1000, updateMs: 300, serverCpuPct: 5, cacheWall: 0.3, cacheWallAt: 30, wanWall: 0.8}

const f2 = (x: number) => x.toFixed(x < 0.1 ? 3 : 2)
const spreadOf = (xs: number[]) => (xs.length > 1 ? ` (spread ${sec(spread(xs))})` : '')

export function fanOutRows(r: FanOutResult): Row[] {
  const fleet = median(r.times.fleet)
  const out: Row[] = []
  const hostCpu = (m: Method) => {
    const xs = r.runs[m].map((x) => x.hostCpuMs).filter((x): x is number => x !== undefined)
    return xs.length ? median(xs) / r.hosts : undefined
  }
  const fleetCpu = hostCpu('fleet')
  // The instructor's side: the command's CPU with the children it waited for (ssh, for the peers), per host.
  const controllerCpu = (m: Method) => (r.runs[m].length ? median(r.runs[m].map((x) => x.controllerCpuMs)) / r.hosts : undefined)
  const fleetCtl = controllerCpu('fleet')
  for (const [m, label, target] of [
    ['ansible', 'ansible-playbook', TARGET.ansible],
    ['pssh', 'parallel-scp + parallel-ssh', TARGET.pssh],
  ] as const) {
    if (!r.times[m].length || !r.times.fleet.length) continue
    const peer = median(r.times[m])
    const ratio = fleet / peer
    const peerCpu = hostCpu(m)
    const cpu = fleetCpu !== undefined && peerCpu !== undefined ? `; hosts' CPU per host ${f2(fleetCpu / 1000)} s vs ${f2(peerCpu / 1000)} s` : ''
    const peerCtl = controllerCpu(m)
    const machine = (x: Method) => (r.runs[x].every((y) => y.counters?.machineCpuMs !== undefined) && r.runs[x].length ? median(r.runs[x].map((y) => y.counters!.machineCpuMs)) : undefined)
    const [fleetMachine, peerMachine] = [machine('fleet'), machine(m)]
    const whole = fleetMachine !== undefined && peerMachine !== undefined ? `; the machine's CPU over the run ${sec(fleetMachine)} vs ${sec(peerMachine)}` : ''
    out.push({
      key: `fanout-${r.hosts}-${m}`,
      name: `fan-out, ${r.hosts} hosts, demo playbook: fleet vs ${label} (${r.rounds} round${r.rounds > 1 ? 's' : ''})`,
      fleet: `${sec(fleet)}${spreadOf(r.times.fleet)}`,
      peer: `${sec(peer)}${spreadOf(r.times[m])}`,
      ratio: f2(ratio),
      figure: `${r.floor ? `floor ${sec(r.floor.floorMs)} (${r.hosts} × \`ssh true\` ${Math.round(r.floor.perConnectionMs)} ms / ${r.floor.cores} cores)` : ''}${whole}${cpu}`,
      target: `≤ ${target}`,
      met: ratio <= target,
    })
    if (m === 'pssh' && fleetCtl !== undefined && peerCtl !== undefined && peerCtl > 0) {
      const ctlRatio = fleetCtl / peerCtl
      out.push({
        key: `instructor-cpu-${r.hosts}`,
        name: `the instructor's CPU per host, ${r.hosts} hosts, demo playbook (the command with the children it waited for, / hosts): fleet vs parallel-scp + parallel-ssh (${r.rounds} round${r.rounds > 1 ? 's' : ''})`,
        fleet: `${fleetCtl.toFixed(1)} ms`,
        peer: `${peerCtl.toFixed(1)} ms`,
        ratio: f2(ctlRatio),
        figure: `whole run ${sec(fleetCtl * r.hosts)} vs ${sec(peerCtl * r.hosts)}`,
        target: `≤ ${TARGET.instructorCpu}`,
        met: ctlRatio <= TARGET.instructorCpu,
      })
    }
  }
  return out
}

export function memoryRow(results: FanOutResult[]): Row | undefined {
  const withRss = results.filter((r) => r.fleetRssKb.length).sort((a, b) => a.hosts - b.hosts)
  if (!withRss.length) return undefined
  const big = withRss[withRss.length - 1]
  const peak = Math.max(...big.fleetRssKb) / 1024
  let perHost = `${(peak / big.hosts).toFixed(2)} MB per host (peak / hosts)`
  if (withRss.length > 1) {
    const small = withRss[0]
    const slope = (peak - Math.max(...small.fleetRssKb) / 1024) / (big.hosts - small.hosts)
    perHost = `≈ ${slope.toFixed(2)} MB per host over a ${(peak - slope * big.hosts).toFixed(0)} MB base (between ${small.hosts} and ${big.hosts} hosts)`
  }
  return {key: 'memory', name: `memory: peak RSS of \`fleet prepare\`, ${big.hosts} hosts`, fleet: `${peak.toFixed(0)} MB`, peer: '', ratio: '', figure: perHost, target: '(report)', met: null}
}

export function storeRows(s: StoreBenchResult, hosts: number): Row[] {
  const node = median(s.status.node)
  const rows: Row[] = []
  for (const [k, label, xs] of [
    ['status', '`fleet status`', s.status.table],
    ['status-json', '`fleet status --json`', s.status.json],
  ] as const) {
    const ratio = median(xs) / node
    rows.push({
      key: k,
      name: `status: ${label}, ${hosts.toLocaleString('en-US')} hosts × 40 steps × 50 events`,
      fleet: `${median(xs).toFixed(0)} ms (spread ${spread(xs).toFixed(0)})`,
      peer: `\`node -e 0\` ${node.toFixed(0)} ms (spread ${spread(s.status.node).toFixed(0)})`,
      ratio: f2(ratio),
      figure: `database ${(s.dbBytes / 2 ** 20).toFixed(0)} MB`,
      target: `≤ ${TARGET.status}×`,
      met: ratio <= TARGET.status,
    })
  }
  rows.push({
    key: 'ingest',
    name: `ingest: \`store.ingest\`, batches of 500 records per host (${s.events.toLocaleString('en-US')} events)`,
    fleet: `${Math.round(s.eventsPerSec).toLocaleString('en-US')} events/s`,
    peer: '',
    ratio: '',
    figure: `${Math.round(s.eventsPerCpuSec).toLocaleString('en-US')} events per CPU-second; batches of ${s.smallBatch.batch}: ${Math.round(s.smallBatch.eventsPerSec).toLocaleString('en-US')}/s`,
    target: `≥ ${TARGET.ingest.toLocaleString('en-US')}/s`,
    met: s.eventsPerSec >= TARGET.ingest,
  })
  return rows
}

export function dashboardRows(d: DashboardBenchResult): Row[] {
  const paint = median(d.paintMs)
  const status = median(d.statusJsonMs)
  const lat = [...d.latencyMs].sort((a, b) => a - b)
  const p95 = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.95))] ?? NaN
  const room = `${d.hosts.toLocaleString('en-US')} hosts × 40 steps, ${d.pages} open pages`
  return [
    {
      key: 'dashboard-snapshot',
      name: `dashboard: first full paint of the snapshot in Chromium, ${room}`,
      fleet: `${paint.toFixed(0)} ms (spread ${spread(d.paintMs).toFixed(0)})`,
      peer: `\`fleet status --json\` ${status.toFixed(0)} ms (spread ${spread(d.statusJsonMs).toFixed(0)})`,
      ratio: f2(paint / status),
      figure: `server peak RSS ${d.rssMb.toFixed(0)} MB`,
      target: `< ${TARGET.paintMs} ms`,
      met: paint < TARGET.paintMs,
    },
    {
      key: 'dashboard-update',
      name: `dashboard: a stored record on every open page's event stream, ${d.running} hosts streaming`,
      fleet: `median ${median(lat).toFixed(0)} ms, p95 ${p95.toFixed(0)} ms`,
      peer: '',
      ratio: '',
      figure: `${lat.length} arrivals (${d.pages - 1} streams × ${lat.length / (d.pages - 1)} marks)`,
      target: `< ${TARGET.updateMs} ms`,
      met: p95 < TARGET.updateMs,
    },
    {
      key: 'dashboard-cpu',
      name: `dashboard: server CPU while ${d.running} hosts stream (${Math.round(d.recordsPerSec).toLocaleString('en-US')} records/s), ${d.pages} open pages`,
      fleet: `${d.serverCpuPct.toFixed(1)} % of a core`,
      peer: `\`fleet status --watch\` ${d.statusWatchCpuPct.toFixed(1)} %`,
      ratio: f2(d.serverCpuPct / d.statusWatchCpuPct),
      figure: `peak RSS ${d.rssMb.toFixed(0)} MB`,
      target: `< ${TARGET.serverCpuPct} %`,
      met: d.serverCpuPct < TARGET.serverCpuPct,
    },
  ]
}

const mb = (b: number) => `${(b / 1e6).toFixed(b < 1e7 ? 1 : 0)} MB`

/** With the cache against without: upstream bytes ≤ 1/N of no-cache; and at 30 hosts wall ≤ 0.3 ×. */
export function roomCacheRows(results: RoomCacheResult[]): Row[] {
  return results.map((r) => {
    const wall = r.withMs / r.withoutMs
    const bytes = r.upstreamWith / r.upstreamWithout
    const wallCounts = r.hosts >= TARGET.cacheWallAt
    return {
      key: `room-cache-${r.hosts}`,
      name: `room cache: \`fleet prepare\`, ${r.hosts} hosts each fetching a ${mb(r.artifactBytes)} artifact through a ${r.mbit} Mbit/s upstream: with a cold cache host vs without`,
      fleet: sec(r.withMs),
      peer: `without ${sec(r.withoutMs)}`,
      ratio: f2(wall),
      figure: `upstream ${mb(r.upstreamWith)} vs ${mb(r.upstreamWithout)} (${f2(bytes)}; 1/N = ${f2(1 / r.hosts)})`,
      target: wallCounts ? `wall ≤ ${TARGET.cacheWall} ×, upstream ≤ 1/N` : 'upstream ≤ 1/N',
      met: bytes <= 1 / r.hosts + 1e-9 && (!wallCounts || wall <= TARGET.cacheWall),
    }
  })
}

/**
 * The room behind a WAN link: fleet's wall time against the peer's (the ratio) and the bytes
 * through the instructor's link (the figure). Against parallel-ssh (the issue's target):
 * wall ≤ 0.8 × and no more bytes; against Ansible reported.
 */
export function wanRows(w: WanResult): Row[] {
  const r = w.fan
  const bytes = (m: Method) => median(r.runs[m].map((x) => (x.counters?.tx ?? 0) + (x.counters?.rx ?? 0)))
  const delay = w.delay === 'netem' ? 'tc netem' : 'no netem in this kernel: tbf + a TUN delay line'
  const out: Row[] = []
  if (!r.times.fleet.length) return out
  const fleet = median(r.times.fleet)
  const fleetBytes = bytes('fleet')
  for (const [m, label] of [
    ['ansible', 'ansible-playbook'],
    ['pssh', 'parallel-scp + parallel-ssh'],
  ] as const) {
    if (!r.times[m].length) continue
    const peer = median(r.times[m])
    const ratio = fleet / peer
    const peerBytes = bytes(m)
    const counts = m === 'pssh'
    out.push({
      key: `wan-${w.hosts}-${m}`,
      name: `room behind a WAN link: ${w.hosts} hosts, ${w.mbit} Mbit/s each way + ${w.delayMs} ms each way (${delay}), demo playbook: fleet${w.fleetArgs.length ? ` ${w.fleetArgs.join(' ')}` : ''} vs ${label} (${w.rounds} round${w.rounds > 1 ? 's' : ''})`,
      fleet: `${sec(fleet)}${spreadOf(r.times.fleet)}`,
      peer: `${sec(peer)}${spreadOf(r.times[m])}`,
      ratio: f2(ratio),
      figure: `link bytes (tx + rx) ${mb(fleetBytes)} vs ${mb(peerBytes)} (${f2(fleetBytes / peerBytes)}); round trip ${w.rttMs.toFixed(0)} ms`,
      target: counts ? `wall ≤ ${TARGET.wanWall} ×, bytes ≤ peer` : '(report)',
      met: counts ? ratio <= TARGET.wanWall && fleetBytes <= peerBytes : null,
    })
  }
  return out
}

export function rowLine(r: Row): string {
  return `| ${r.name} | ${r.fleet} | ${r.peer} | ${r.ratio} | ${r.figure} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : '**no**'} |`
}

const HEADER = '| benchmark | fleet | peer | ratio | figure | target | met |\n|---|---|---|---|---|---|---|'
const BEGIN = '<!-- bench:begin -->'
const END = '<!-- bench:end -->'

function machineLine(): string {
  const v = peerVersions()
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {version: string}
  return `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${v.ansible}, ${v.pssh}, ${v.openssh}, ${versionOf('bash', ['--version']).replace(/^GNU bash, version (\S+).*/, 'bash $1')}, fleet ${pkg.version}.`
}

/** Rows of the current table in BENCHMARKS.md by key (hidden key comment at the end of each row). */
function previousRows(doc: string): Map<string, string> {
  const block = doc.slice(doc.indexOf(BEGIN), doc.indexOf(END))
  const out = new Map<string, string>()
  for (const line of block.split('\n')) {
    const m = line.match(/<!-- key:([\w-]+) -->\s*$/)
    if (m) out.set(m[1], line)
  }
  return out
}

export async function runSuite(opts: SuiteOptions): Promise<{rows: Row[]; table: string; results: Record<string, unknown>}> {
  const log = opts.log ?? ((l: string) => console.error(`bench: ${l}`))
  const want = (k: string) => !opts.only || opts.only.includes(k)
  const rows: Row[] = []
  const results: Record<string, unknown> = {}
  const done = () => opts.onRows?.([...rows])
  const sizes = want('fanout') ? (opts.sizes ?? (opts.quick ? [5, 20] : [50, 200])) : []
  const rounds = opts.rounds ?? (opts.quick ? 1 : 3)
  const fan: FanOutResult[] = []
  const fanOut = async (n: number) => {
    ensurePeers({install: true})
    const r = await fanOutBench({hosts: n, rounds: opts.sizeRounds?.[sizes.indexOf(n)] ?? rounds, log, methods: opts.methods})
    fan.push(r)
    results.fanout = fan
    rows.push(...fanOutRows(r))
    const mem = memoryRow(fan)
    const i = rows.findIndex((x) => x.key === 'memory')
    if (mem && i >= 0) rows[i] = mem
    else if (mem) rows.push(mem)
    done()
  }
  // The smaller fan-out first: it is the most telling and the quickest.
  if (sizes.length) await fanOut(sizes[0])
  if (want('agent')) {
    log('agent overhead')
    const a = agentOverhead(opts.quick ? {steps: 50, rounds: 3} : {steps: 200, rounds: 5})
    rows.push({key: 'agent', ...a})
    results.agent = a
    done()
    log('agent start-up')
    const s = agentStartup(opts.quick ? {rounds: 7, batch: 5} : {rounds: 9, batch: 10})
    rows.push(agentStartupRow(s))
    results.agentStartup = s
    done()
  }
  if (want('status') || want('ingest')) {
    const hosts = opts.quick ? 100 : 1000
    const s = await storeBench({hosts, steps: 40, eventsPerStep: 50, batch: 500, statusRounds: opts.quick ? 3 : 7, log})
    results.store = s
    rows.push(...storeRows(s, hosts).filter((r) => want(r.key === 'ingest' ? 'ingest' : 'status')))
    done()
  }
  if (want('dashboard')) {
    const d = await dashboardBench({hosts: opts.quick ? 100 : 1000, rounds: opts.quick ? 1 : 3, streamSeconds: opts.quick ? 5 : 30, log})
    results.dashboard = d
    rows.push(...dashboardRows(d))
    done()
  }
  if (want('cache')) {
    const c = await roomCacheBench({sizes: opts.quick ? [4] : [8, 30], mbit: 50, artifactBytes: (opts.quick ? 4 : 24) * 1024 * 1024, log})
    results.roomCache = c
    rows.push(...roomCacheRows(c))
    done()
  }
  if (want('wan')) {
    ensurePeers({install: true})
    const wan: WanResult[] = []
    for (const n of opts.quick ? [5] : [50]) {
      const w = await wanBench({hosts: n, rounds, delayMs: 60, mbit: 20, methods: opts.methods, log})
      wan.push(w)
      results.wan = wan
      rows.push(...wanRows(w))
      done()
    }
  }
  for (const n of sizes.slice(1)) await fanOut(n)
  const table = [HEADER, ...rows.map(rowLine)].join('\n')
  return {rows, table, results}
}

/** Rewrite the table in BENCHMARKS.md; rows not measured this time keep their last line, marked with its date. */
export function writeBenchmarks(rows: Row[], file = join(packageRoot(), 'BENCHMARKS.md')): void {
  const doc = readFileSync(file, 'utf8')
  const before = previousRows(doc)
  const stampOld = doc.slice(doc.indexOf(BEGIN), doc.indexOf(END)).match(/Measured (\d{4}-\d{2}-\d{2})/)?.[1] ?? 'earlier'
  const order = ['agent', 'agent-startup', 'fanout-50-ansible', 'fanout-50-pssh', 'instructor-cpu-50', 'fanout-200-ansible', 'fanout-200-pssh', 'instructor-cpu-200', 'memory', 'status', 'status-json', 'ingest', 'dashboard-snapshot', 'dashboard-update', 'dashboard-cpu', 'room-cache-8', 'room-cache-30', 'wan-50-ansible', 'wan-50-pssh']
  const lines = new Map<string, string>()
  for (const [k, line] of before) lines.set(k, line.includes('(measured ') ? line : line.replace(/^\| ([^|]*?) \|/, `| $1 (measured ${stampOld}) |`))
  for (const r of rows) lines.set(r.key, `${rowLine(r)} <!-- key:${r.key} -->`)
  const keys = [...order.filter((k) => lines.has(k)), ...[...lines.keys()].filter((k) => !order.includes(k))]
  const table = [HEADER, ...keys.map((k) => lines.get(k)!)].join('\n')
  const next = doc.replace(new RegExp(`${BEGIN}[\\s\\S]*${END}`), `${BEGIN}\n${machineLine()}\n\n${table}\n${END}`)
  writeFileSync(file, next)
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}

export async function main(argv: string[]): Promise<void> {
  const quick = argv.includes('--quick')
  const sizes = arg(argv, '--sizes')?.split(',').map(Number)
  // `--rounds 3`, or `--rounds 3,1`: 3 for the first fan-out size and everything else, 1 for the second.
  const roundList = arg(argv, '--rounds')?.split(',').map(Number)
  const rounds = roundList?.[0]
  const only = arg(argv, '--only')?.split(',')
  const methods = arg(argv, '--methods')?.split(',') as Method[] | undefined
  const write = argv.includes('--no-write') ? false : !quick
  const {table, results, rows} = await runSuite({quick, sizes, rounds, sizeRounds: roundList, only, methods, onRows: write ? (r) => writeBenchmarks(r) : undefined})
  console.log(machineLine())
  console.log()
  console.log(table)
  const out = join(packageRoot(), 'dist/bench')
  mkdirSync(out, {recursive: true})
  writeFileSync(join(out, `results-${quick ? 'quick' : 'full'}.json`), JSON.stringify({date: new Date().toISOString(), rows, results}, null, 1))
}
