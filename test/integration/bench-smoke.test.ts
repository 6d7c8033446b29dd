// The benchmark suite itself is too slow for CI (`npm run bench`); this runs its quick
// mode's smallest fan-out case once, so a change that breaks the suite shows up here:
// fleet, ansible-playbook and parallel-scp + parallel-ssh each once on 5 loopback hosts.
import {describe, expect, it} from 'vitest'
import {fanOutBench, METHODS} from '../../bench/fanout.js'
import {missingPeers} from '../../bench/peers.js'
import {fanOutRows, memoryRow, rowLine} from '../../bench/suite.js'

const HOSTS = 5

describe('benchmark suite, smoke', () => {
  it('runs the smallest quick fan-out case and produces well-formed rows', async () => {
    // No skipping: scripts/setup.sh installs the peers (apt-get install ansible-core pssh).
    expect(missingPeers(), 'the benchmark peers are missing; run scripts/setup.sh').toEqual([])
    const r = await fanOutBench({hosts: HOSTS, rounds: 1, prefix: 'fbs', accounting: false})
    for (const m of METHODS) {
      expect(r.times[m], m).toHaveLength(1)
      expect(r.times[m][0], m).toBeGreaterThan(0)
    }
    // fleet stored every journal record of every host (fanOutBench checks it against the hosts' files).
    expect(r.fleetEvents).toBeGreaterThan(HOSTS * 20)
    expect(r.fleetRssKb[0]).toBeGreaterThan(10_000)
    expect(r.floor?.sequentialMs).toBeGreaterThan(0)

    const all = fanOutRows(r)
    expect(all.map((x) => x.key)).toEqual([`fanout-${HOSTS}-ansible`, `fanout-${HOSTS}-pssh`, `instructor-cpu-${HOSTS}`])
    const rows = all.slice(0, 2)
    for (const row of rows) {
      expect(Number(row.ratio)).toBeGreaterThan(0)
      expect(row.fleet).toMatch(/^\d+(\.\d+)? s$/)
      expect(row.peer).toMatch(/^\d+(\.\d+)? s$/)
      expect(row.figure).toMatch(/^floor \d.*; the machine's CPU over the run \d/)
      expect(typeof row.met).toBe('boolean')
      expect(rowLine(row)).toMatch(/^\|( [^|]* \|){7}$/)
    }
    // The instructor's CPU: fleet's command and pssh's, each with the children it waited for, per host.
    const ctl = all[2]
    expect(ctl.fleet).toMatch(/^\d+\.\d ms$/)
    expect(ctl.peer).toMatch(/^\d+\.\d ms$/)
    expect(Number(ctl.ratio)).toBeGreaterThan(0)
    expect(typeof ctl.met).toBe('boolean')
    expect(memoryRow([r])?.fleet).toMatch(/^\d+ MB$/)
  }, 180_000)
})
