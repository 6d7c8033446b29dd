/**
 * The process table, read from /proc: which processes run, their parents, start times
 * (a pid with its start time names one process across pid reuse), uids and command
 * lines, and signalling or waiting for one. The test bed signals only processes it
 * can name this way.
 */
import {readdirSync, readFileSync} from 'node:fs'

/** One row of the process table, read from /proc. */
export interface ProcInfo {
  pid: number
  ppid: number
  comm: string
  /** Start time in clock ticks since boot: with the pid, identifies one process across pid reuse. */
  startTime: number
}

/** Parse /proc/PID/stat; undefined when the process is gone. */
export function readProc(pid: number): ProcInfo | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // comm is in parentheses and may itself contain spaces or parentheses.
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < 0) return undefined
  const comm = text.slice(open + 1, close)
  const rest = text.slice(close + 2).split(' ')
  // rest[0] is field 3 (state); ppid is field 4; starttime is field 22.
  const state = rest[0]
  if (state === 'Z' || state === 'X') return undefined
  return {pid, ppid: Number(rest[1]), comm, startTime: Number(rest[19])}
}

/** Real uid of a process, or undefined when it is gone. */
export function readUid(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^Uid:\s+(\d+)/m.exec(status)
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** A snapshot of all live processes. */
export function processTable(): Map<number, ProcInfo> {
  const table = new Map<number, ProcInfo>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const info = readProc(Number(entry))
    if (info) table.set(info.pid, info)
  }
  return table
}

/** All descendants of `root` (not root itself), deepest last. */
export function descendants(root: number, table = processTable()): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>()
  for (const p of table.values()) {
    const list = children.get(p.ppid)
    if (list) list.push(p)
    else children.set(p.ppid, [p])
  }
  const out: ProcInfo[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift()!
    for (const child of children.get(pid) ?? []) {
      out.push(child)
      queue.push(child.pid)
    }
  }
  return out
}

/** True when `pid` is alive and (if given) still the process that started at `startTime`. */
export function isAlive(pid: number, startTime?: number): boolean {
  const info = readProc(pid)
  if (!info) return false
  return startTime === undefined || info.startTime === startTime
}

/** The command line of a process, NUL separators replaced by spaces. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()
  } catch {
    return ''
  }
}

/** Send a signal, ignoring "no such process". Returns whether it was delivered. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw err
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Wait until the process is gone (polling /proc), up to `timeoutMs`. */
export async function waitGone(pid: number, startTime: number | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid, startTime)) return true
    await sleep(10)
  }
  return !isAlive(pid, startTime)
}
