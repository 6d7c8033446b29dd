import {mkdtempSync, readdirSync, readlinkSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {JournalWriter, readJournal} from '../../src/agent/journal.js'

/** How many of this process's descriptors are open on `path`. */
function openOn(path: string): number {
  let n = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++
    } catch {
      // the descriptor readdir itself used, closed by now
    }
  }
  return n
}

describe('JournalWriter: the step boundary flush behind the next step', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-journal-'))
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('returns before the fsync ends, and says when it has', async () => {
    const w = new JournalWriter(join(dir, 'j.jsonl'), 'r1')
    w.append({type: 'output', step: 's1', stream: 'stdout', data: 'x'})
    w.syncBehind()
    expect(w.flushing).toBe(true)
    await w.flushed()
    expect(w.flushing).toBe(false)
    w.close()
  })

  it('keeps every record written during a flush, and close waits for the flush before closing the file', async () => {
    const path = join(dir, 'j.jsonl')
    const w = new JournalWriter(path, 'r1')
    for (let i = 0; i < 5; i++) {
      w.append({type: 'output', step: 's1', stream: 'stdout', data: `line ${i}\n`})
      w.syncBehind()
    }
    w.close()
    // The fsync behind still holds the descriptor: closing it under the fsync could flush another file that took its number.
    expect(w.flushing).toBe(true)
    expect(openOn(path)).toBe(1)
    await w.flushed()
    expect(openOn(path)).toBe(0)
    expect(readJournal(path).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5])
    const again = new JournalWriter(path, 'r1')
    expect(again.append({type: 'output', step: 's1', stream: 'stdout', data: 'more'}).seq).toBe(6)
    again.close()
  })
})
