import {readFileSync} from 'node:fs'
import {Socket} from 'node:net'

/** Past this much unread output the reader is not keeping up: stop streaming, the journal has it all. */
const MAX_BUFFERED = 8 << 20
const FLUSH_TIMEOUT_MS = 60_000

/**
 * A run's journal lines, streamed to whoever started it (fleet's SSH exec, on fd 3)
 * as the run writes them. It never holds the run up: writes are non-blocking, and
 * a reader that went away (EPIPE) or stopped reading only ends the stream. fleet
 * then follows the journal, which has every record, from the last seq it stored.
 */
export class JournalStream {
  private socket: Socket | undefined
  private lastSeq = 0

  constructor(fd: number) {
    try {
      this.socket = new Socket({fd, readable: false, writable: true})
      this.socket.on('error', () => this.drop())
    } catch {
      this.socket = undefined
    }
  }

  /** A line that is not a record (start's answer, an error). */
  text(line: string): void {
    this.write(line)
  }

  /** A record's line; one at or below the last seq sent is skipped (the journal and the live records overlap on resume). */
  record(seq: number, line: string): void {
    if (seq <= this.lastSeq) return
    this.lastSeq = seq
    this.write(line)
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

  private write(line: string): void {
    if (!this.socket) return
    if (this.socket.writableLength > MAX_BUFFERED) return this.drop()
    this.socket.write(line + '\n')
  }

  private drop(): void {
    this.socket?.destroy()
    this.socket = undefined
  }
}
