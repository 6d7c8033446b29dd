import {describe, expect, it} from 'vitest'
import type {EtaOpenHostRow} from '../../src/store/store.js'
import {estimateRoom, median, RUNNING_FLOOR_S, type EtaHost, type PeerStep} from '../../src/ui/eta.js'
import {etaHosts} from '../../src/ui/room-eta.js'
import {buildReport, renderReport, roomEtaLine} from '../../src/ui/status-view.js'
import type {HostRow} from '../../src/store/store.js'

const NOW = Date.parse('2026-11-24T10:00:00Z')
const PB = '/work/playbooks/workshop.yaml'

/** Peers of steps a (10/30/20 s: median 20), b (60/100 s: even count, 80), c (40 s). */
const STEPS: PeerStep[] = [
  {mode: 'run', step: 'a', ok_ms: [10_000, 30_000, 20_000], skipped: 0},
  {mode: 'run', step: 'b', ok_ms: [60_000, 100_000], skipped: 0},
  {mode: 'run', step: 'c', ok_ms: [40_000], skipped: 0},
]

function running(id: number, step: string, ranMs: number, pending: string[], extra: Partial<EtaHost> = {}): EtaHost {
  return {id, mode: 'run', playbook: PB, started: true, pending, running: {step, since: NOW - ranMs}, ...extra}
}

function notStarted(id: number, extra: Partial<EtaHost> = {}): EtaHost {
  return {id, mode: 'run', playbook: PB, started: false, pending: [], running: null, ...extra}
}

describe('median', () => {
  it('is the middle value of an odd count, whatever the order, and leaves its input alone', () => {
    const xs = [30, 10, 20]
    expect(median(xs)).toBe(20)
    expect(xs).toEqual([30, 10, 20])
    expect(median([7])).toBe(7)
  })

  it('is the mean of the two middle values of an even count', () => {
    expect(median([100, 60])).toBe(80)
    expect(median([4, 1, 3, 2])).toBe(2.5)
  })

  it('is undefined for no values', () => {
    expect(median([])).toBeUndefined()
  })

  it('is not dragged by one slow host', () => {
    expect(median([10, 12, 14, 600])).toBe(13)
  })
})

describe('estimateRoom', () => {
  it('gives hosts at different steps the rest of their steps, the running one less what it has run', () => {
    const eta = estimateRoom({
      now: NOW,
      steps: STEPS,
      hosts: [
        running(1, 'a', 5_000, ['b', 'c']), // 15 + 80 + 40
        running(2, 'c', 10_000, []), // 30
        running(3, 'b', 30_000, ['c']), // 50 + 40: the current step partly done
        notStarted(4), // 20 + 80 + 40
      ],
    })
    expect([...eta.hosts]).toEqual([
      [1, 135],
      [2, 30],
      [3, 90],
      [4, 140],
    ])
    expect(eta.room_s).toBe(140)
    expect(eta.wanted.size).toBe(0)
  })

  it('gives a running step past its median the floor, not nothing or less', () => {
    const eta = estimateRoom({now: NOW, steps: STEPS, hosts: [running(1, 'b', 300_000, ['c']), running(2, 'c', 39_000, [])]})
    expect(eta.hosts.get(1)).toBe(RUNNING_FLOOR_S + 40)
    expect(eta.hosts.get(2)).toBe(RUNNING_FLOOR_S)
  })

  it('makes the room as slow as its slowest host', () => {
    const slow = [...STEPS, {mode: 'run', step: 'd', ok_ms: [500_000], skipped: 0}]
    const eta = estimateRoom({now: NOW, steps: slow, hosts: [running(1, 'c', 0, []), running(2, 'b', 0, ['c', 'd']), running(3, 'd', 100_000, [])]})
    expect(eta.hosts.get(2)).toBe(80 + 40 + 500)
    expect(eta.hosts.get(3)).toBe(400)
    expect(eta.room_s).toBe(620)
  })

  it('falls back to the timeout the playbook declares for a step no peer finished', () => {
    const steps = [...STEPS, {mode: 'run', step: 'd', ok_ms: [], skipped: 0}]
    const timeouts = new Map([[PB, new Map([['d', 300]])]])
    const eta = estimateRoom({now: NOW, steps, timeouts, hosts: [running(1, 'c', 0, ['d']), running(2, 'd', 120_000, []), notStarted(3)]})
    expect(eta.hosts.get(1)).toBe(40 + 300)
    expect(eta.hosts.get(2)).toBe(180)
    expect(eta.hosts.get(3)).toBe(20 + 80 + 40 + 300)
    expect(eta.room_s).toBe(440)
    expect(eta.wanted.size).toBe(0)
  })

  it('says unknown, for the host and the room, when no peer finished a step and the playbook declares no timeout for it', () => {
    const steps = [...STEPS, {mode: 'run', step: 'd', ok_ms: [], skipped: 0}]
    const timeouts = new Map([[PB, new Map([['a', 600]])]])
    const eta = estimateRoom({now: NOW, steps, timeouts, hosts: [running(1, 'c', 0, ['d']), running(2, 'b', 0, ['c'])]})
    expect(eta.hosts.get(1)).toBeNull()
    expect(eta.hosts.get(2)).toBe(120)
    expect(eta.room_s).toBeNull()
  })

  it('asks for the playbook it has no timeouts of yet, and has no fallback without one', () => {
    const steps = [{mode: 'run', step: 'a', ok_ms: [], skipped: 0}]
    const eta = estimateRoom({now: NOW, steps, hosts: [running(1, 'a', 0, []), running(2, 'a', 0, [], {playbook: null})]})
    expect([...eta.wanted]).toEqual([PB])
    expect(eta.hosts.get(1)).toBeNull()
    expect(eta.hosts.get(2)).toBeNull()
    // A playbook that could not be read is an empty map: no fallback, and not asked for again.
    const again = estimateRoom({now: NOW, steps, timeouts: new Map([[PB, new Map()]]), hosts: [running(1, 'a', 0, [])]})
    expect(again.wanted.size).toBe(0)
    expect(again.hosts.get(1)).toBeNull()
  })

  it('counts a step every peer skipped as 0, and one some peer ran at its median; a peer of another mode is no peer', () => {
    const steps: PeerStep[] = [
      {mode: 'run', step: 'x', ok_ms: [], skipped: 3},
      {mode: 'run', step: 'y', ok_ms: [50_000], skipped: 4},
      {mode: 'undo', step: 'z', ok_ms: [7_000], skipped: 0},
      {mode: 'run', step: 'z', ok_ms: [], skipped: 0},
    ]
    const eta = estimateRoom({now: NOW, steps, hosts: [running(1, 'x', 0, ['y']), running(2, 'z', 0, [], {mode: 'undo'}), running(3, 'z', 0, [], {playbook: null})]})
    expect(eta.hosts.get(1)).toBe(RUNNING_FLOOR_S + 50)
    expect(eta.hosts.get(2)).toBe(7)
    expect(eta.hosts.get(3)).toBeNull()
  })

  it('gives a host not started the whole plan of its mode, and unknown while no host of that mode has a plan', () => {
    const steps: PeerStep[] = [...STEPS, {mode: 'undo', step: 'a', ok_ms: [1_000], skipped: 0}]
    const eta = estimateRoom({now: NOW, steps, hosts: [notStarted(1, {mode: 'undo'}), notStarted(2)]})
    expect(eta.hosts.get(1)).toBe(1)
    expect(eta.hosts.get(2)).toBe(140)
    const none = estimateRoom({now: NOW, steps: [], hosts: [notStarted(1)]})
    expect(none.hosts.get(1)).toBeNull()
    expect(none.room_s).toBeNull()
  })

  it('rounds up to whole seconds and has no room ETA for no host', () => {
    const eta = estimateRoom({now: NOW, steps: [{mode: 'run', step: 'a', ok_ms: [1_000, 1_200], skipped: 0}], hosts: [notStarted(1)]})
    expect(eta.hosts.get(1)).toBe(2)
    expect(estimateRoom({now: NOW, steps: STEPS, hosts: []}).room_s).toBeNull()
  })
})

describe('etaHosts', () => {
  const row = (r: Partial<EtaOpenHostRow>): EtaOpenHostRow => ({host_id: 1, agent_mode: 'run', agent_run_ended: 0, run_kind: 'prepare', playbook: PB, run_ended_at: null, pending: ['c'], running_step: 'b', running_since: new Date(NOW - 1_000).toISOString(), ...r})

  it('takes a host whose current agent run goes on as started, with its steps ahead', () => {
    expect(etaHosts([row({})])).toEqual([{id: 1, mode: 'run', playbook: PB, started: true, pending: ['c'], running: {step: 'b', since: NOW - 1_000}}])
  })

  it('takes a host whose agent run ended (an earlier one) or has no record yet as not started, in its fleet run mode', () => {
    const hosts = etaHosts([row({host_id: 1, agent_run_ended: 1, run_kind: 'cleanup'}), row({host_id: 2, agent_run_ended: null, agent_mode: null})])
    expect(hosts).toEqual([
      {id: 1, mode: 'undo', playbook: PB, started: false, pending: [], running: null},
      {id: 2, mode: 'run', playbook: PB, started: false, pending: [], running: null},
    ])
  })

  it('leaves out a host whose fleet run is over or that has none: it will not run', () => {
    expect(etaHosts([row({run_ended_at: '2026-11-24T09:00:00Z'}), row({run_kind: null, playbook: null})])).toEqual([])
  })
})

describe('fleet status ETA output', () => {
  const host = (id: number, name: string, state: HostRow['state']): HostRow => ({id, name, address: '10.0.0.1', port: null, user: null, transport: 'ssh', host_key: null, state, fleet_run: 1, agent_run: null, agent_mode: null, last_seq: 0, step_id: null, step_index: null, step_total: null, step_title: null, error: null, started_at: null, ended_at: null, last_seen: null})
  const rows = [host(1, 'alice-lab', 'ok'), host(2, 'bob-lab', 'running'), host(3, 'carol-lab', 'running')]

  it('has eta_s per host and room_eta_s, an ETA column and the room line', () => {
    const report = buildReport(rows, NOW, {eta: {hosts: new Map([[2, 250], [3, 730]]), room_s: 730, wanted: new Set()}})
    expect(report.hosts.map((h) => h.eta_s)).toEqual([null, 250, 730])
    expect(report.room_eta_s).toBe(730)
    const text = renderReport(report, 160)
    expect(text).toContain('room ready in ~13m')
    expect(text).toMatch(/HOST +ADDRESS +STEP +STATE +ELAPSED +ETA +ERROR/)
    expect(text).toMatch(/bob-lab +10\.0\.0\.1 +running +~4m10s/)
    expect(text).toMatch(/carol-lab +10\.0\.0\.1 +running +~12m10s/)
    expect(text).toMatch(/alice-lab +10\.0\.0\.1 +ok\n/)
  })

  it('says unknown honestly: `?` for the host, unknown for the room; no room line once every host is done', () => {
    const report = buildReport(rows, NOW, {eta: {hosts: new Map([[2, 250], [3, null]]), room_s: null, wanted: new Set()}})
    const text = renderReport(report, 160)
    expect(text).toMatch(/carol-lab +10\.0\.0\.1 +running +\?/)
    expect(roomEtaLine(report)).toMatch(/^room ready in: unknown/)
    expect(roomEtaLine(buildReport([host(1, 'alice-lab', 'ok')], NOW))).toBeUndefined()
    expect(roomEtaLine({...report, room_eta_s: 45})).toBe('room ready in ~45s')
    expect(roomEtaLine({...report, room_eta_s: 3_601})).toBe('room ready in ~1h01m')
  })
})
