import {Writable} from 'node:stream'
import {setTimeout as sleep} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {COALESCE_MS, JournalStream} from '../../src/agent/journal-stream.js'

/** A reader that keeps every write() apart: what the agent's stream hands the SSH exec, write by write. */
function reader(): {writes: string[]; to: Writable} {
  const writes: string[] = []
  const to = new Writable({
    write(chunk: Buffer, _enc, done) {
      writes.push(chunk.toString('utf8'))
      done()
    },
  })
  return {writes, to}
}

const rec = (seq: number) => JSON.stringify({seq, type: 'output', data: `line ${seq}`})

describe("the agent's journal stream to fleet", () => {
  it('sends records written close together in one write, after a short wait', async () => {
    const r = reader()
    const s = new JournalStream(r.to)
    s.record(1, rec(1))
    s.record(2, rec(2))
    s.record(3, rec(3))
    await sleep(COALESCE_MS / 4)
    expect(r.writes).toEqual([]) // still gathering
    await sleep(COALESCE_MS * 2)
    expect(r.writes).toEqual([`${rec(1)}\n${rec(2)}\n${rec(3)}\n`])
    s.record(4, rec(4))
    await sleep(COALESCE_MS * 2)
    expect(r.writes).toHaveLength(2)
    await s.end()
  })

  it("sends a line that is not a record at once, behind the records before it; end() sends what waits; seqs already sent are skipped", async () => {
    const r = reader()
    const s = new JournalStream(r.to)
    s.record(1, rec(1))
    s.text('{"run":"r1","status":"started"}')
    expect(r.writes).toEqual([`${rec(1)}\n{"run":"r1","status":"started"}\n`])
    s.record(1, rec(1)) // the journal file and the live records overlap on a resume
    s.record(2, rec(2))
    await s.end()
    expect(r.writes.join('')).toBe(`${rec(1)}\n{"run":"r1","status":"started"}\n${rec(2)}\n`)
  })

  it('a burst past 64 KiB goes out without waiting', () => {
    const r = reader()
    const s = new JournalStream(r.to)
    const big = 'x'.repeat(20_000)
    for (let i = 1; i <= 4; i++) s.record(i, JSON.stringify({seq: i, data: big}))
    expect(r.writes).toHaveLength(1)
    expect(r.writes[0].split('\n')).toHaveLength(5)
    return s.end()
  })
})
