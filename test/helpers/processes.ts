/** Waiting and process lookups the system tests share: polls with a deadline, live processes by command line. */
import {readdirSync, readFileSync} from 'node:fs'

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Poll `check` every 200 ms until it holds, or throw "WHAT within N ms". */
export async function eventually(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`)
    await sleep(200)
  }
}

/** Is this pid a live (non-zombie) process whose command line contains `needle`? */
export function liveWith(pid: number, needle: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) return false
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)
  } catch {
    return false
  }
}

/** The live processes whose command line contains `needle`. */
export function processesWith(needle: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => liveWith(pid, needle))
}
