/**
 * The instructor's disk fills while `fleet prepare` records a run (its database on a small
 * tmpfs made here): fleet ends with one sentence naming the database, no stack trace, and the
 * hosts' agents carry on by themselves; once there is space, the same command re-attaches to
 * them and the database ends up holding every record of every host's journal, exactly once.
 * Real loopback sshd hosts, a real tmpfs (needs root).
 */
import {execFileSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startLocalHosts, type LocalHostSet} from '../../testbed/index.js'
import {FleetStore} from '../../src/store/store.js'
import {tempDir, waitUntil} from '../helpers/agent-cli.js'
import {fleet, hostJournals} from '../helpers/fleet-cli.js'

let set: LocalHostSet
let dir = ''
let mnt = ''
let mounted = false

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and needs root')
  set = await startLocalHosts({count: 2, prefix: 'fleet-df'})
  dir = tempDir()
  mnt = join(dir, 'small')
  mkdirSync(mnt)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=768k', 'tmpfs', mnt])
  mounted = true
}, 180_000)

afterAll(async () => {
  if (mounted) execFileSync('umount', [mnt])
  await set?.stop()
})

describe('fleet prepare when the database disk fills', {timeout: 300_000}, () => {
  it('stops with one sentence; the agents carry on; the same command re-attaches once there is space', async () => {
    const hostsFile = join(dir, 'hosts.txt')
    writeFileSync(hostsFile, set.hostsFileText())
    const pb = join(dir, 'chatty.yaml')
    // ~2 MB of step output per host, far more than the 768 KiB the database may take.
    writeFileSync(pb, 'name: chatty\nsteps:\n  - id: talk\n    run: |\n      for i in $(seq 1 20000); do echo "line $i of a step that has a lot to say about what it is doing....."; done\n  - id: done\n    run: echo finished\n')
    const db = join(mnt, 'fleet.db')
    const args = ['prepare', '-H', hostsFile, '--db', db, '-p', pb]
    const first = await fleet(args)
    expect(first.code, first.stdout + first.stderr).toBe(1)
    expect(first.stderr).toBe(`Error: the disk holding ${db} is full, so fleet stopped recording; the hosts' agents carry on by themselves: free some space and run the same command again, it re-attaches to them and stores what they did meanwhile.\n`)
    // The agents went on without fleet: each run ends in its journal.
    await waitUntil('both agents finished', () => set.hosts.every((h) => [...hostJournals(h).values()].some((j) => j.some((r) => r.type === 'run-end'))), 120_000)

    execFileSync('mount', ['-o', 'remount,size=64m', mnt])
    const again = await fleet(args)
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.stdout).toContain('prepare: 2 of 2 hosts ok.')
    const store = FleetStore.open(db)
    try {
      let total = 0
      for (const h of set.hosts) {
        const row = store.host(h.name)!
        const journals = hostJournals(h)
        expect(journals.size).toBe(1) // one run per host: re-attached, not started again
        for (const [run, journal] of journals) {
          expect(store.records(row.id, run)).toEqual(journal)
          total += journal.length
        }
      }
      expect(store.eventCount()).toBe(total)
    } finally {
      store.close()
    }
  })
})
