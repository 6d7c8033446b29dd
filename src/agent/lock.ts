import {closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync} from 'node:fs'
import {onDisk, writeAll} from './disk-full.js'
import {bootId} from './facts.js'

export interface LockInfo {
  pid: number
  /** Process start time (from /proc), so a recycled pid is not mistaken for the holder. */
  pid_start: string
  boot_id: string
  run?: string
  since: string
}

/** Fields of /proc/PID/stat after the parenthesised command name (state is [0], start time [19]). */
function procStat(pid: number): string[] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return []
  }
}

function procStart(pid: number): string {
  return procStat(pid)[19] ?? ''
}

export function isAlive(info: LockInfo): boolean {
  if (info.boot_id !== bootId()) return false
  try {
    process.kill(info.pid, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  const stat = procStat(info.pid)
  // A zombie (killed, not yet reaped by its parent) holds nothing any more.
  return stat[0] !== undefined && stat[0] !== 'Z' && stat[19] === info.pid_start
}

export function readLock(path: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo
  } catch {
    return undefined
  }
}

export type LockResult = {ok: true; lock: HostLock} | {ok: false; holder: LockInfo}

/**
 * One run per host: an exclusive-create lock file holding the owner's pid.
 * A lock whose owner is gone (killed, or from before a reboot) is stale and
 * is taken over; the takeover itself is serialised by a second lock file so
 * that two agents finding the same stale lock cannot both win.
 */
export class HostLock {
  private constructor(readonly path: string, private info: LockInfo) {}

  static acquire(path: string): LockResult {
    for (let attempt = 0; attempt < 50; attempt++) {
      const info: LockInfo = {pid: process.pid, pid_start: procStart(process.pid), boot_id: bootId(), since: new Date().toISOString()}
      if (createExclusive(path, info)) return {ok: true, lock: new HostLock(path, info)}
      const holder = readLock(path)
      if (holder && isAlive(holder)) return {ok: false, holder}
      if (!holder && !olderThan(path, 2000)) {
        // Being written by its owner this very moment; look again shortly.
        sleepMs(5)
        continue
      }
      takeOverStale(path, holder)
    }
    throw new Error(`could not take the lock ${path}`)
  }

  /** Record which run holds the lock, for `agent start` callers that find it held. */
  setRun(run: string): void {
    const info = {...this.info, run}
    const tmp = `${this.path}.${process.pid}.tmp`
    try {
      onDisk(this.path, () => {
        const fd = openSync(tmp, 'w', 0o600)
        try {
          writeAll(fd, JSON.stringify(info), this.path)
        } finally {
          closeSync(fd)
        }
      })
    } catch (e) {
      removeQuietly(tmp)
      throw e
    }
    renameSync(tmp, this.path)
    this.info = info
  }

  release(): void {
    const current = readLock(this.path)
    if (current && current.pid === this.info.pid && current.pid_start === this.info.pid_start) {
      try {
        unlinkSync(this.path)
      } catch {
        // already gone
      }
    }
  }
}

function createExclusive(path: string, info: LockInfo): boolean {
  let fd: number
  try {
    fd = onDisk(path, () => openSync(path, 'wx', 0o600))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  }
  try {
    // An empty lock file would read as "being written" to every other start for seconds.
    writeAll(fd, JSON.stringify(info), path)
  } catch (e) {
    closeSync(fd)
    removeQuietly(path)
    throw e
  }
  closeSync(fd)
  return true
}

function takeOverStale(path: string, seen: LockInfo | undefined): void {
  const guard = `${path}.takeover`
  const guardInfo: LockInfo = {pid: process.pid, pid_start: procStart(process.pid), boot_id: bootId(), since: new Date().toISOString()}
  if (!createExclusive(guard, guardInfo)) {
    const other = readLock(guard)
    if ((other && !isAlive(other)) || olderThan(guard, 10_000)) removeQuietly(guard)
    else sleepMs(5)
    return
  }
  try {
    const now = readLock(path)
    // Only remove the lock we judged stale; someone may have replaced it meanwhile.
    if (JSON.stringify(now) === JSON.stringify(seen) && (!now || !isAlive(now))) removeQuietly(path)
  } finally {
    removeQuietly(guard)
  }
}

function olderThan(path: string, ms: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > ms
  } catch {
    return true
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // gone already
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}
