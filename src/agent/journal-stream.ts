import {readFileSync} from 'node:fs'
import {Socket} from 'node:net'
import type {Writable} from 'node:stream'

/** Past this much unread output the reader is not keeping up: stop streaming, the journal has it all. */
const MAX_BUFFERED = 8 << 20
const FLUSH_TIMEOUT_MS = 60_000
/**
 * Records written within this long of each other go out in one write: one SSH packet,
 * one wakeup of sshd and of fleet, where a step's start, output and end would take one
 * each (fleet's CPU per host is mostly per packet). Short beside what a person watching
 * the room's progress can see; the journal file itself is written at once, as before.
 */
export const COALESCE_MS = 100
/** A burst this large goes out without waiting. */
const COALESCE_BYTES = 64 << 10

/**
 * A run's journal lines, streamed to whoever started it (fleet's SSH exec, on fd 3)
 * as the run writes them. It never holds the run up: writes are non-blocking, and
 * a reader that went away (EPIPE) or stopped reading only ends the stream. fleet
 * then follows the journal, which has every record, from the last seq it stored.
 */
export class JournalStream {
  private socket: Writable | undefined
  private lastSeq = 0
  /** Record lines waiting for the coalescing timer, newline-terminated. */
  private pending = ''
  private timer: NodeJS.Timeout | undefined

  /** `to`: the file descriptor fleet's exec reads (a stream in tests). */
  constructor(to: number | Writable) {
    try {
      this.socket = typeof to === 'number' ? new Socket({fd: to, readable: false, writable: true}) : to
      this.socket.on('error', () => this.drop())
    } catch {
      this.socket = undefined
    }
  }

  /** A line that is not a record (start's answer, an error): sent at once, after the records before it. */
  text(line: string): void {
    this.pending += line + '\n'
    this.flush()
  }

  /** A record's line; one at or below the last seq sent is skipped (the journal and the live records overlap on resume). */
  record(seq: number, line: string): void {
    if (seq <= this.lastSeq || !this.socket) return
    this.lastSeq = seq
    this.pending += line + '\n'
    if (this.pending.length >= COALESCE_BYTES) this.flush()
    else this.timer ??= setTimeout(() => this.flush(), COALESCE_MS)
  }

  /** The records a journal file holds already (a resumed run's earlier attempts). */
  journalFile(path: string): void {
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch {
      return
    }
    const lines = text.split('\n')
    lines.pop() // '' after the last newline, or a line still being written (the live record brings it)
    for (const line of lines) {
      if (!line) continue
      const seq = (JSON.parse(line) as {seq?: unknown}).seq
      if (typeof seq === 'number') this.record(seq, line)
    }
  }

  /** Flush what is buffered and close; gives up after a while (a reader that stopped reading). */
  end(): Promise<void> {
    this.flush()
    const s = this.socket
    if (!s) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.drop()
        resolve()
      }, FLUSH_TIMEOUT_MS)
      timer.unref()
      s.end(() => {
        clearTimeout(timer)
        resolve()
      })
      s.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const text = this.pending
    this.pending = ''
    if (!this.socket || !text) return
    if (this.socket.writableLength > MAX_BUFFERED) return this.drop()
    this.socket.write(text)
  }

  private drop(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.pending = ''
    this.socket?.destroy()
    this.socket = undefined
  }
}
