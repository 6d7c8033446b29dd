/**
 * One test file at a time for what cannot be shared: the workshop's system tests all build the
 * guide's networks, domains and BMC ports under their fixed names, so a second file must wait
 * for the first to finish instead of finding the names taken. An O_EXCL lock file holding the
 * holder's pid; a lock whose holder is gone is taken over.
 */
import {readFileSync, rmSync, writeFileSync} from 'node:fs'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Wait until this process holds `path`; returns the release function. */
export async function holdExclusive(path: string, timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), {flag: 'wx'})
      return () => {
        if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path, {force: true})
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let holder = 0
    try {
      holder = Number(readFileSync(path, 'utf8').trim())
    } catch {
      continue
    }
    if (!holder || !alive(holder)) {
      rmSync(path, {force: true})
      continue
    }
    if (Date.now() > deadline) throw new Error(`${path} is held by pid ${holder} for more than ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** The lock the workshop's system tests share. */
export const WORKSHOP_LOCK = '/tmp/fleet-workshop-system-test.lock'
