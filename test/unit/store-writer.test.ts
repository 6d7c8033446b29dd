import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {describe, expect, it, vi} from 'vitest'
import type {JournalRecord} from '../../src/protocol/index.js'
import {FleetStore} from '../../src/store/store.js'
import {StoreWriter} from '../../src/store/store-writer.js'
import {tempDir} from '../helpers/agent-cli.js'

const out = (run: string, seq: number): JournalRecord => ({v: 1, seq, ts: '2026-01-01T00:00:00.000Z', run, type: 'output', step: 's', stream: 'stdout', data: `line ${seq}\n`}) as JournalRecord

/** A store with hosts a, b, c; `reader` is a second connection, as `fleet status` in another terminal would have. */
function room() {
  const path = join(tempDir(), 'fleet.db')
  const store = FleetStore.open(path)
  const [a, b, c] = ['a', 'b', 'c'].map((name) => ({id: store.upsertHost({name, address: name}), name}))
  const failures: unknown[] = []
  const writer = new StoreWriter(store, (e) => failures.push(e))
  const reader = FleetStore.openReadOnly(path)
  return {store, writer, reader, a, b, c, failures}
}

describe("the store writer: the room's events in one transaction per batch", () => {
  it("writes every host's states, keys, runs and records of a batch in one transaction, in their order, after a short wait", async () => {
    const {store, writer, reader, a, b, c} = room()
    const tx = vi.spyOn(store, 'writeTx')
    for (const h of [a, b, c]) {
      writer.onEvent({kind: 'state', host: h, state: 'connecting', error: null})
      writer.onEvent({kind: 'host-key', host: h, key: `ssh-ed25519 KEY${h.name}`})
      writer.onEvent({kind: 'agent-run', host: h, run: `r-${h.name}`, mode: 'run'})
      writer.onEvent({kind: 'state', host: h, state: 'running'})
      writer.onEvent({kind: 'records', host: h, records: [out(`r-${h.name}`, 1), out(`r-${h.name}`, 2)]})
      writer.onEvent({kind: 'records', host: h, records: [out(`r-${h.name}`, 3)]})
    }
    writer.onEvent({kind: 'state', host: a, state: 'ok'})
    expect(reader.host(a.id)!.state).toBe('pending') // nothing written yet
    await sleep(300)
    expect(tx).toHaveBeenCalledTimes(1)
    for (const h of [a, b, c]) {
      expect(reader.host(h.id)).toMatchObject({state: h === a ? 'ok' : 'running', host_key: `ssh-ed25519 KEY${h.name}`, agent_run: `r-${h.name}`, last_seq: 3})
      expect(reader.records(h.id, `r-${h.name}`).map((r) => r.seq)).toEqual([1, 2, 3])
    }
    writer.close()
  })

  it('flush(host) writes at once when that host has something waiting, and not otherwise; close() writes the rest', () => {
    const {store, writer, reader, a, b} = room()
    const tx = vi.spyOn(store, 'writeTx')
    writer.onEvent({kind: 'state', host: a, state: 'running'})
    writer.flush(b)
    expect(tx).not.toHaveBeenCalled()
    expect(reader.host(a.id)!.state).toBe('pending')
    writer.onEvent({kind: 'state', host: b, state: 'running'})
    writer.flush(a)
    expect(tx).toHaveBeenCalledTimes(1)
    expect([reader.host(a.id)!.state, reader.host(b.id)!.state]).toEqual(['running', 'running'])
    writer.onEvent({kind: 'state', host: b, state: 'failed', error: 'E: it broke'})
    writer.close()
    expect(reader.host(b.id)).toMatchObject({state: 'failed', error: 'E: it broke'})
    expect(tx).toHaveBeenCalledTimes(2)
  })

  it('a batch the store refuses in the timer goes to fail(), not up the stack; none of it is half written', async () => {
    const {store, writer, reader, a, failures} = room()
    const refuse = vi.spyOn(store, 'setHostKey').mockImplementation(() => {
      throw new Error('database or disk is full')
    })
    writer.onEvent({kind: 'state', host: a, state: 'running'})
    writer.onEvent({kind: 'records', host: a, records: [out('r-a', 1)]})
    writer.onEvent({kind: 'host-key', host: a, key: 'ssh-ed25519 K'})
    await sleep(300)
    expect(failures.map((e) => (e as Error).message)).toEqual(['database or disk is full'])
    expect(reader.host(a.id)!.state).toBe('pending') // the state before it in the batch was rolled back
    expect(reader.records(a.id, 'r-a')).toEqual([]) // and the records, with the agent run they created
    // The same records again once there is space: stored under an agent run that exists.
    refuse.mockRestore()
    writer.onEvent({kind: 'records', host: a, records: [out('r-a', 1), out('r-a', 2)]})
    writer.close()
    expect(reader.records(a.id, 'r-a').map((r) => r.seq)).toEqual([1, 2])
  })
})
