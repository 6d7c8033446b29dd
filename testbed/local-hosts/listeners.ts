/**
 * Waiting until freshly started sshds listen, by reading /proc/net/tcp: no probe
 * connection, so no "[preauth]" noise in every host's log. A listener that exits
 * before it listens, or one still silent at the deadline, fails the wait with the
 * tail of its log.
 */
import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {endianness} from 'node:os'

import {sleep} from '../machine/procs.js'
import type {LocalHost} from './types.js'

/** The local address column of /proc/net/tcp for address:port. */
function procNetHex(address: string, port: number): string {
  const octets = address.split('.').map(Number)
  const ordered = endianness() === 'LE' ? octets.reverse() : octets
  const a = ordered.map((o) => o.toString(16).padStart(2, '0')).join('').toUpperCase()
  return `${a}:${port.toString(16).padStart(4, '0').toUpperCase()}`
}

/** Every address:port in LISTEN state in `file` (a /proc/…/net/tcp), in its notation; none when it is gone. */
async function listening(file: string): Promise<Set<string>> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const out = new Set<string>()
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length > 3 && f[3] === '0A') out.add(f[1])
  }
  return out
}

function logTail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    return lines.slice(-5).join(' | ')
  } catch {
    return '(no log)'
  }
}

/**
 * Resolve once every host in `hosts` listens. `exited` is filled (by host index, with
 * the exit code) as listeners exit, while this waits. `ownNetns`: the listeners run in
 * another network namespace, so each host's table is read through its sshd's pid
 * (/proc/PID/net/tcp is the table of that process's namespace).
 */
export async function waitListening(hosts: LocalHost[], exited: ReadonlyMap<number, number | null>, timeoutMs: number, ownNetns = false): Promise<void> {
  const pending = new Map(hosts.map((h) => [procNetHex(h.address, h.port), h] as const))
  const deadline = Date.now() + timeoutMs
  while (pending.size > 0) {
    const root = ownNetns ? undefined : await listening('/proc/net/tcp')
    for (const [key, h] of pending) {
      const up = root ?? (await listening(`/proc/${h.sshdPid}/net/tcp`))
      if (up.has(key)) pending.delete(key)
      else if (exited.has(h.index)) {
        throw new Error(`sshd for ${h.name} (${h.address}:${h.port}) exited with code ${exited.get(h.index)} before listening: ${logTail(h.logFile)}`)
      }
    }
    if (pending.size === 0) break
    if (Date.now() > deadline) {
      const h = pending.values().next().value!
      throw new Error(`${pending.size} sshd(s) did not listen within ${timeoutMs} ms, e.g. ${h.name} on ${h.address}:${h.port}: ${logTail(h.logFile)}`)
    }
    await sleep(15)
  }
}
