import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {isLoopback, parseListen} from '../../src/dashboard/listen.js'
import {RoomPoller} from '../../src/dashboard/poller.js'
import type {RoomUpdate} from '../../src/dashboard/room.js'
import {RoomReports} from '../../src/dashboard/room-report.js'
import {checkGivenToken, generateToken, tokenMatches} from '../../src/dashboard/token.js'
import type {JournalRecord} from '../../src/protocol/index.js'
import {FleetStore} from '../../src/store/store.js'
import {tempDir} from '../helpers/agent-cli.js'
import {writeSyntheticRoom} from '../helpers/synthetic-room.js'

describe('dashboard: --listen and the token', () => {
  it('parses HOST:PORT, [v6]:PORT and a bare port; refuses the rest', () => {
    expect(parseListen('127.0.0.1:8080')).toEqual({host: '127.0.0.1', port: 8080})
    expect(parseListen('0.0.0.0:0')).toEqual({host: '0.0.0.0', port: 0})
    expect(parseListen('[::1]:9000')).toEqual({host: '::1', port: 9000})
    expect(parseListen('8081')).toEqual({host: '127.0.0.1', port: 8081})
    expect(parseListen('room.example.org:80')).toEqual({host: 'room.example.org', port: 80})
    for (const bad of [':8080', '1.2.3.4:', '1.2.3.4:99999', 'host:port', '[zz]:80']) expect(() => parseListen(bad), bad).toThrow(/--listen/)
  })

  it('only 127/8, ::1 and localhost count as loopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true)
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'room.example.org', '::ffff:10.0.0.1', '128.0.0.1']) expect(isLoopback(h), h).toBe(false)
  })

  it('generates URL-safe tokens, checks given ones, compares any lengths', () => {
    const t = generateToken()
    expect(t).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(generateToken()).not.toBe(t)
    expect(tokenMatches(t, t)).toBe(true)
    expect(tokenMatches(t, `${t}x`)).toBe(false)
    expect(tokenMatches(t, '')).toBe(false)
    expect(tokenMatches(t, undefined)).toBe(false)
    expect(checkGivenToken('workshop-2026-room')).toBe('workshop-2026-room')
    for (const bad of ['short', 'has space in it!!', 'ends<with>markup']) expect(() => checkGivenToken(bad)).toThrow(/--token/)
  })
})

describe('dashboard: following the store', () => {
  const rec = (run: string, seq: number, r: Record<string, unknown>) => ({v: 1, seq, ts: new Date().toISOString(), run, ...r}) as JournalRecord

  it('sends only what changed, and a catch-up from any id holds exactly the records after it', async () => {
    const db = join(tempDir(), 'fleet.db')
    writeSyntheticRoom(db, {hosts: 8, steps: 20, phases: 2})
    const writer = FleetStore.open(db)
    const reader = FleetStore.openReadOnly(db)
    expect(() => reader.setHostState(1, 'ok')).toThrow(/readonly/i)
    const reports = new RoomReports(reader)
    const poller = new RoomPoller(reader, reports, 1_000_000)
    const got: RoomUpdate[] = []
    const inputs = await reports.inputs()
    const snap = reader.readTx(() => poller.snapshot(inputs))
    expect(snap.id).toBe(reader.maxEventId())
    expect(Object.keys(snap.steps).length).toBeGreaterThan(0)
    poller.listeners.add({update: (u) => got.push(u)})

    // Nothing stored: nothing sent.
    await poller.poll()
    expect(got).toEqual([])

    // A running host (lab-02) goes on: output, then its step ends, then a new step starts.
    const h = writer.host('lab-02')!
    expect(h.state).toBe('running')
    const run = h.agent_run!
    const steps = writer.steps(h.id, run)
    const running = steps.find((s) => s.status === 'running')!
    let seq = h.last_seq
    writer.ingest(h.id, [rec(run, ++seq, {type: 'output', step: running.step, stream: 'stdout', data: 'one\n'}), rec(run, ++seq, {type: 'output', step: running.step, stream: 'stderr', data: 'two\n'})])
    await poller.poll()
    expect(got).toHaveLength(1)
    expect(got[0].output!.map((o) => [o.host, o.data])).toEqual([
      ['lab-02', 'one\n'],
      ['lab-02', 'two\n'],
    ])
    expect(got[0].steps).toBeUndefined() // output moves no step
    expect(got[0].hosts ?? []).toEqual([]) // nor a host row the page shows (last_seen is not shown)
    const afterOutput = got[0].id

    const next = steps.find((s) => s.idx === running.idx + 1)!
    writer.ingest(h.id, [
      rec(run, ++seq, {type: 'step-end', step: running.step, status: 'ok', exit_code: 0, duration_ms: 1234, attempts: 1}),
      rec(run, ++seq, {type: 'step-start', step: next.step, index: next.idx, total: steps.length, title: next.title, action: 'run'}),
    ])
    writer.setHostState(writer.host('lab-08')!.id, 'connecting') // a host row change with no record
    await poller.poll()
    expect(got).toHaveLength(2)
    const u = got[1]
    expect(u.id).toBe(afterOutput + 2)
    expect(Object.keys(u.steps!)).toEqual(['lab-02'])
    expect(u.steps!['lab-02'].cells.find((c) => c.step === running.step)).toMatchObject({status: 'ok', duration_ms: 1234})
    expect(u.steps!['lab-02'].cells.find((c) => c.step === next.step)).toMatchObject({status: 'running'})
    expect(u.hosts!.map((x) => x.name).sort()).toEqual(['lab-02', 'lab-08'])
    expect(u.room!.counts.connecting).toBe(1)

    // A page that saw up to snap.id catches up with both batches' records, and every host row.
    const caught = reader.readTx(() => poller.catchUp(inputs, snap.id))!
    expect(caught.id).toBe(u.id)
    expect(caught.output!.map((o) => o.data)).toEqual(['one\n', 'two\n'])
    expect(Object.keys(caught.steps!)).toEqual(['lab-02'])
    expect(caught.hosts).toHaveLength(8)
    // One that saw the output already gets none of it again.
    expect(reader.readTx(() => poller.catchUp(inputs, afterOutput))!.output).toEqual([])
    // An id from another store (ahead of this one) gets a snapshot instead.
    expect(reader.readTx(() => poller.catchUp(inputs, u.id + 1))).toBeUndefined()
    writer.close()
    reader.close()
  })
})
