/**
 * `fleet status` groups a room's errors by signature: a real store (FleetStore, journal
 * records ingested as a fleet run stores them), read by the built fleet CLI. No host is contacted.
 */
import {chmodSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import type {JournalRecord} from '../../src/protocol/index.js'
import {FleetStore} from '../../src/store/store.js'
import {tempDir} from '../helpers/agent-cli.js'
import {fleet} from '../helpers/fleet-cli.js'

const FACTS = {hostname: 'h', user: 'u', home: '/h', is_root: false, os: {id: 'debian', id_like: [], version_id: '12', version_major: 12, pretty_name: 'D', family: 'debian'}, kernel: 'k', arch: 'x', cpus: 1, mem_mb: 1, has_systemd: false, virt: {kvm_device: false, cpu_flag: false, nested: false}, boot_id: 'b'}

/** A run whose step `apt` fails with `error` after printing `output` (step `base` went fine). */
function failingRun(run: string, error: string | undefined, output: string[]): JournalRecord[] {
  let seq = 0
  const out: JournalRecord[] = []
  const add = (r: Record<string, unknown>) => out.push({v: 1, seq: ++seq, ts: `2026-11-24T09:00:${String(seq).padStart(2, '0')}.000Z`, run, ...r} as unknown as JournalRecord)
  const plan = [{id: 'base', title: 'Base packages'}, {id: 'apt', title: 'Workshop packages'}, {id: 'lab', title: 'The lab'}]
  add({type: 'run-start', mode: 'run', playbook: {name: 'workshop', hash: 'h', path: '/p'}, selection: {}, plan, facts: FACTS, agent_version: '1', pid: 4242})
  add({type: 'step-start', step: 'base', index: 1, total: 3, title: 'Base packages', action: 'run'})
  add({type: 'step-end', step: 'base', status: 'ok', exit_code: 0, duration_ms: 800, attempts: 1})
  add({type: 'step-start', step: 'apt', index: 2, total: 3, title: 'Workshop packages', action: 'run'})
  for (const line of output) add({type: 'output', step: 'apt', stream: 'stderr', data: `${line}\n`})
  add({type: 'step-end', step: 'apt', status: 'failed', exit_code: 100, duration_ms: 5100, attempts: 1, error})
  add({type: 'run-end', status: 'failed', duration_ms: 6000, failed_step: 'apt', error: `apt: ${error ?? 'failed'}`})
  return out
}

const NOT_FOUND = (ip: string) => `E: Failed to fetch http://${ip}:3142/ubuntu/pool/main/i/ironic/python3-ironic_21.4.0-0ubuntu1_all.deb  404  Not Found [IP: ${ip} 3142]`
const LOCKED = 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 12345 (apt)'

describe('fleet status: errors grouped by signature', () => {
  it('--json: three hosts whose errors differ only in an address are one group; the different one and the unreachable one are apart', async () => {
    const dir = tempDir()
    const db = join(dir, 'fleet.db')
    const store = FleetStore.open(db)
    const room = [
      {name: 'alice-lab', error: NOT_FOUND('10.0.0.5')},
      {name: 'bob-lab', error: LOCKED},
      {name: 'carol-lab', error: NOT_FOUND('10.0.7.21')},
      {name: 'dave-lab', error: NOT_FOUND('192.168.122.1')},
    ]
    room.forEach((h, i) => {
      const id = store.upsertHost({name: h.name, address: `10.0.0.${11 + i}`, user: 'ubuntu'})
      store.ingest(id, failingRun(`20261124T090000Z-00000${i}`, h.error, ['Reading package lists...', h.error]))
    })
    // A step that printed its reason and ended with a bare exit code: the log tail is the signature.
    const generic = store.upsertHost({name: 'erin-lab', address: '10.0.0.15', user: 'ubuntu'})
    store.ingest(generic, failingRun('20261124T090000Z-00000e', undefined, ['Reading package lists...', 'E: Unable to locate package workshop-tools', '']))
    const off = store.upsertHost({name: 'frank-lab', address: '10.0.0.16', user: 'ubuntu'})
    store.setHostState(off, 'unreachable', 'ubuntu@10.0.0.16: cannot connect to 10.0.0.16:22: connection refused (ECONNREFUSED)')
    store.close()

    const r = await fleet(['status', '--db', db, '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(1)
    const report = JSON.parse(r.stdout)
    expect(report.counts).toMatchObject({failed: 5, unreachable: 1})
    expect(report.error_groups.map((g: {count: number; state: string; step: string | null; hosts: string[]}) => [g.count, g.state, g.step, g.hosts])).toEqual([
      [3, 'failed', 'apt', ['alice-lab', 'carol-lab', 'dave-lab']],
      [1, 'failed', 'apt', ['bob-lab']],
      [1, 'failed', 'apt', ['erin-lab']],
      [1, 'unreachable', null, ['frank-lab']],
    ])
    const [notFound, locked, bare] = report.error_groups
    expect(notFound).toMatchObject({error: `apt: ${NOT_FOUND('10.0.0.5')}`, label: 'alice-lab, carol-lab +1'})
    expect(notFound.signature).toBe('E: Failed to fetch http://<ip>/ubuntu/pool/main/i/ironic/python3-ironic_<n>-<n>ubuntu1_all.deb <n> Not Found [IP: <ip> <n>]')
    expect(locked).toMatchObject({error: `apt: ${LOCKED}`, label: 'bob-lab'})
    // The agent's error for a step that printed nothing telling is its exit code; its last log line says why.
    expect(bare).toMatchObject({error: 'apt: failed', detail: ['E: Unable to locate package workshop-tools']})

    const human = await fleet(['status', '--db', db])
    expect(human.code).toBe(1)
    const out = human.stdout
    expect(out).toContain('Failed hosts by error, most hosts first:')
    expect(out).toMatch(/^ {2}3 +apt +alice-lab, carol-lab \+1 +apt: E: Failed to fetch http:\/\/10\.0\.0\.5:3142\//m)
    expect(out).toMatch(/^ {2}1 +apt +bob-lab +apt: E: Could not get lock/m)
    expect(out).toMatch(/^ {2}1 +apt +erin-lab +apt: failed \(E: Unable to locate package workshop-tools\)$/m)
    expect(out.indexOf('Unreachable hosts by error')).toBeGreaterThan(out.indexOf('Failed hosts by error'))
    expect(out).toMatch(/^ {2}1 +- +frank-lab +ubuntu@10\.0\.0\.16: cannot connect/m)
  })

  it('reads the database without writing it: its mode stays, an empty file stays empty and is "no database yet"', async () => {
    const dir = tempDir()
    const db = join(dir, 'fleet.db')
    const store = FleetStore.open(db)
    store.upsertHost({name: 'alice-lab', address: '10.0.0.11', user: 'ubuntu'})
    store.close()
    chmodSync(db, 0o644)
    const before = readFileSync(db)
    const r = await fleet(['status', '--db', db, '--json'])
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout).hosts.map((h: {name: string}) => h.name)).toEqual(['alice-lab'])
    expect(statSync(db).mode & 0o777).toBe(0o644)
    expect(readFileSync(db).equals(before)).toBe(true)
    const empty = join(dir, 'empty.db')
    writeFileSync(empty, '')
    const e = await fleet(['status', '--db', empty])
    expect([e.code, e.stderr]).toEqual([2, `Error: ${empty}: no fleet database here yet (an empty file); run "fleet prepare --hosts FILE" first (or give --db).\n`])
    expect(statSync(empty).size).toBe(0)
  })
})
