// Where the CPU goes on the hosts: BSD process accounting (Debian package `acct`)
// records every process that exits, with its user and CPU time. The loopback hosts
// are Unix accounts of their own, so their share is exact even on a busy machine.
// Optional: without accton (or root) the fan-out runs without this breakdown.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export interface ProcRecord {
  user: string
  command: string
  cpuMs: number
}

export function accountingAvailable(): boolean {
  if (process.getuid?.() !== 0) return false
  return ['accton', 'sa'].every((c) => spawnSync('sh', ['-c', `command -v ${c}`], {stdio: 'ignore'}).status === 0)
}

/** Run fn with process accounting on; returns fn's result and every process that exited meanwhile. */
export async function withAccounting<T>(fn: () => Promise<T>, settleMs = 500): Promise<{result: T; procs: ProcRecord[]}> {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-acct-'))
  const file = join(dir, 'pacct')
  writeFileSync(file, '')
  if (spawnSync('accton', [file], {stdio: 'ignore'}).status !== 0) throw new Error('accton failed')
  try {
    const result = await fn()
    // Detached agents and ssh masters exit a moment after the command returns.
    await new Promise((r) => setTimeout(r, settleMs))
    spawnSync('accton', ['off'], {stdio: 'ignore'})
    const out = spawnSync('sa', ['-u', '-f', file], {encoding: 'utf8', maxBuffer: 256 << 20}).stdout ?? ''
    const procs: ProcRecord[] = []
    for (const line of out.split('\n')) {
      // user  0.01 cpu  619k mem  105 io command[*]
      const m = line.match(/^(\S+)\s+([\d.]+)\s+cpu\s+\S+\s+mem\s+\S+\s+io\s+(.+)$/)
      if (m) procs.push({user: m[1], cpuMs: Number(m[2]) * 1000, command: m[3].replace(/\*$/, '').trim()})
    }
    return {result, procs}
  } finally {
    spawnSync('accton', ['off'], {stdio: 'ignore'})
    rmSync(dir, {recursive: true, force: true})
  }
}

/** CPU of the processes of these users, in total and by command. */
export function cpuOf(procs: ProcRecord[], users: Set<string>): {totalMs: number; byCommand: Map<string, {ms: number; n: number}>} {
  const byCommand = new Map<string, {ms: number; n: number}>()
  let totalMs = 0
  for (const p of procs) {
    if (!users.has(p.user)) continue
    totalMs += p.cpuMs
    const c = byCommand.get(p.command) ?? {ms: 0, n: 0}
    c.ms += p.cpuMs
    c.n++
    byCommand.set(p.command, c)
  }
  return {totalMs, byCommand}
}
