import {randomBytes} from 'node:crypto'
import {closeSync, openSync, statSync, unlinkSync, writeSync} from 'node:fs'
import {UserError} from '../errors/user-error.js'
import {EXIT} from '../protocol/exit-codes.js'
import {noSpaceMessage} from '../protocol/no-space.js'

/*
 * A full disk (or quota) under the agent's own files: its journal, step logs, lock, run
 * metadata. Every such write goes through onDisk()/writeAll(), which turn ENOSPC and EDQUOT
 * into a DiskFullError naming the file. It is a UserError so that wherever it ends up, the
 * command prints its one sentence (no stack trace) and exits EXIT.noSpace. executeRun ends
 * the run failed with it, in the space its SpaceReserve gives back (src/agent/run.ts).
 */

export class DiskFullError extends UserError {
  constructor(readonly path: string) {
    super(noSpaceMessage(path), EXIT.noSpace)
    this.name = 'DiskFullError'
  }
}

export function isNoSpace(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

/** fn(), with a full disk as a DiskFullError naming `path` (the file it was writing). */
export function onDisk<T>(path: string, fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    throw isNoSpace(e) ? new DiskFullError(path) : e
  }
}

/**
 * Write all of `data` at the fd's position (the end, for an append fd). A write the disk
 * cut short is continued, so the caller learns of the full disk (DiskFullError) instead of
 * silently keeping a torn piece; what got written before it stays written (see JournalWriter).
 */
export function writeAll(fd: number, data: string | Buffer, path: string): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data
  for (let off = 0; off < buf.length; ) {
    const n = onDisk(path, () => writeSync(fd, buf, off, buf.length - off))
    if (n <= 0) throw new DiskFullError(path)
    off += n
  }
}

/** Space a run sets aside so that its last records (step-end, run-end) still fit once the disk is full. */
export const RESERVE_BYTES = 64 * 1024

/**
 * The run's spare space: a file of RESERVE_BYTES in the state dir, taken when a run starts
 * and given back (deleted) when a write finds the disk full, just before the run writes its
 * end; deleted too when the run ends. Random bytes, not zeros: a compressing or
 * deduplicating filesystem would keep zeros in no space at all. A start that cannot take
 * it is refused before it changes anything: that disk has no room for a run's records.
 */
export class SpaceReserve {
  constructor(readonly path: string) {}

  take(): void {
    try {
      // Left behind by an agent that was killed: it still holds the space.
      if (statSync(this.path).size >= RESERVE_BYTES) return
    } catch {
      // none yet
    }
    const fd = onDisk(this.path, () => openSync(this.path, 'w', 0o600))
    try {
      writeAll(fd, randomBytes(RESERVE_BYTES), this.path)
    } catch (e) {
      closeSync(fd)
      this.release()
      throw e
    }
    closeSync(fd)
  }

  release(): void {
    try {
      unlinkSync(this.path)
    } catch {
      // not taken, or given back already
    }
  }
}
