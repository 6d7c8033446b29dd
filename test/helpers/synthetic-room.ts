import type {JournalRecord} from '../../src/protocol/index.js'
import {FleetStore} from '../../src/store/store.js'

/**
 * A room written straight into a store, the way the store writer writes a real one (the
 * records through FleetStore.ingest, host states through setHostState): for the page's
 * layout at sizes no loopback test bed runs in a test's time (60 hosts × 45 steps).
 * Hosts are spread over every state: most done, some running, a few failed, unreachable
 * and pending.
 */
export function writeSyntheticRoom(db: string, opts: {hosts: number; steps: number; phases?: number; now?: number}): void {
  const store = FleetStore.open(db)
  const now = opts.now ?? Date.now()
  const phases = opts.phases ?? 5
  const plan = Array.from({length: opts.steps}, (_, i) => ({id: `step-${String(i + 1).padStart(2, '0')}`, title: `Step number ${i + 1}`, phase: `phase-${Math.floor((i * phases) / opts.steps) + 1}`}))
  const facts = {hostname: 'h', user: 'u', home: '/home/u', is_root: false, os: {id: 'debian', id_like: [], version_id: '12', version_major: 12, pretty_name: 'Debian', family: 'debian'}, kernel: '6', arch: 'x64', cpus: 2, mem_mb: 2048, has_systemd: true, virt: {kvm_device: false, cpu_flag: false, nested: false}, boot_id: 'b'}
  const iso = (ms: number) => new Date(ms).toISOString()
  try {
    store.db.transaction(() => {
      const fleetRun = store.startRun('prepare', '/p.yaml', undefined, {})
      for (let i = 0; i < opts.hosts; i++) {
        const name = `lab-${String(i + 1).padStart(2, '0')}`
        const id = store.upsertHost({name, address: `10.0.${Math.floor(i / 250)}.${(i % 250) + 2}`, user: 'ubuntu'})
        store.claimHost(id, fleetRun)
        const kind = i % 20 === 7 ? 'unreachable' : i % 20 === 13 ? 'pending' : i % 15 === 4 ? 'failed' : i % 4 === 1 ? 'running' : 'ok'
        if (kind === 'unreachable') {
          store.setHostState(id, 'unreachable', 'connect: ECONNREFUSED 10.0.0.9:22')
          continue
        }
        if (kind === 'pending') {
          store.setHostState(id, 'pending')
          continue
        }
        const run = `run-${i}`
        const records: JournalRecord[] = []
        let seq = 0
        let t = now - 600_000
        const rec = (r: Record<string, unknown>) => records.push({v: 1, seq: ++seq, ts: iso(t), run, ...r} as JournalRecord)
        rec({type: 'run-start', mode: 'run', playbook: {name: 'workshop', hash: 'x', path: '/p.yaml'}, selection: {}, plan, facts, agent_version: '0', pid: 1})
        const stopAt = Math.min(plan.length, kind === 'ok' ? plan.length : kind === 'failed' ? 5 + (i % 20) : 10 + ((i * 7) % 30))
        for (let s = 0; s < stopAt; s++) {
          const p = plan[s]
          rec({type: 'step-start', step: p.id, index: s + 1, total: plan.length, title: p.title, phase: p.phase, action: 'run'})
          rec({type: 'output', step: p.id, stream: 'stdout', data: `doing ${p.id}\n`})
          const took = 1000 + ((i * 31 + s * 17) % 40) * 1000
          const last = s === stopAt - 1
          if (last && kind === 'running') break
          t += took
          const failed = last && kind === 'failed'
          rec({type: 'step-end', step: p.id, status: failed ? 'failed' : s % 9 === 3 ? 'skipped' : 'ok', exit_code: failed ? 100 : 0, duration_ms: took, attempts: 1, ...(failed ? {error: `E: Unable to locate package workshop-tools-${i}`} : {})})
        }
        if (kind === 'ok') rec({type: 'run-end', status: 'ok', duration_ms: t - (now - 600_000)})
        if (kind === 'failed') rec({type: 'run-end', status: 'failed', duration_ms: 1, failed_step: plan[stopAt - 1].id, error: `${plan[stopAt - 1].id}: E: Unable to locate package workshop-tools-${i}`})
        store.setHostState(id, 'running')
        store.ingest(id, records)
      }
    })()
  } finally {
    store.close()
  }
}
