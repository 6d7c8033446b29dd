/**
 * Which local-host sets are running on this machine, so a later start can clean up
 * after one whose process crashed. Per set, in /run/fleet-localhosts: a prefix lock
 * (one running set per account prefix) and a slot file (its address block) listing
 * its sshds, its folders and its sudoers file, each naming the owner by pid and start
 * time. What a dead owner left behind is removed at the next start; sshds are killed
 * only when their pid, start time and command line are still the ones recorded.
 */
import {existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {UserError} from '../../src/errors/user-error.js'
import {cmdline, descendants, isAlive, processTable, readProc, signalPid} from '../machine/procs.js'
import {MAX_SLOTS} from './addresses.js'

/** One listening sshd of a set: its pid, start time (against pid reuse) and config path (in its command line). */
export interface SshdRecord {
  pid: number
  startTime: number
  config: string
}

export interface SlotState {
  pid: number
  startTime: number
  prefix: string
  baseDir: string
  ownsBaseDir: boolean
  sudoersFile?: string
  sshd: SshdRecord[]
}

/** The folder of the state files (created on first use). */
export function runDir(): string {
  const dir = existsSync('/run') ? '/run/fleet-localhosts' : join(tmpdir(), 'fleet-localhosts-run')
  mkdirSync(dir, {recursive: true, mode: 0o700})
  return dir
}

/** This process's start time: with its pid, the owner named in the state files. */
export const selfStart = readProc(process.pid)?.startTime ?? 0

export const slotFile = (stateDir: string, slot: number): string => join(stateDir, `slot-${slot}.json`)
export const prefixLockFile = (stateDir: string, prefix: string): string => join(stateDir, `prefix-${prefix}.lock`)

function ownerAlive(state: {pid: number; startTime: number}): boolean {
  return isAlive(state.pid, state.startTime)
}

/** Kill what a dead owner left behind: its sshds (checked by command line), its dirs and files. */
export function cleanupStale(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const file = join(dir, entry)
    if (entry.endsWith('.lock')) {
      try {
        const owner = JSON.parse(readFileSync(file, 'utf8')) as {pid: number; startTime: number}
        if (!ownerAlive(owner)) unlinkSync(file)
      } catch {
        rmSync(file, {force: true})
      }
      continue
    }
    if (!/^slot-\d+\.json$/.test(entry)) continue
    let state: SlotState
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as SlotState
    } catch {
      continue // being written right now by its owner
    }
    if (ownerAlive(state)) continue
    killSshds(state.sshd)
    if (state.ownsBaseDir) rmSync(state.baseDir, {recursive: true, force: true})
    if (state.sudoersFile) rmSync(state.sudoersFile, {force: true})
    rmSync(file, {force: true})
    rmSync(prefixLockFile(dir, state.prefix), {force: true})
  }
}

/** SIGKILL these sshds and their per-connection sshds, each only if it is still the process recorded. */
export function killSshds(list: SshdRecord[]): void {
  const table = processTable()
  for (const s of list) {
    const info = table.get(s.pid)
    if (!info || info.startTime !== s.startTime || !cmdline(s.pid).includes(s.config)) continue
    for (const d of descendants(s.pid, table)) if (d.comm === 'sshd') signalPid(d.pid, 'SIGKILL')
    signalPid(s.pid, 'SIGKILL')
  }
}

function tryCreate(file: string, content: string): boolean {
  try {
    writeFileSync(file, content, {flag: 'wx', mode: 0o600})
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

/**
 * Take the prefix lock and the first free address block for a new set (after
 * cleaning up stale ones). Throws a UserError when the prefix runs already or every
 * block is taken; release() gives both back.
 */
export function claimSlot(prefix: string): {stateDir: string; slot: number; release: () => void} {
  const stateDir = runDir()
  cleanupStale(stateDir)
  const owner = JSON.stringify({pid: process.pid, startTime: selfStart})
  const prefixLock = prefixLockFile(stateDir, prefix)
  if (!tryCreate(prefixLock, owner)) {
    throw new UserError(`local hosts with prefix "${prefix}" are already running (see ${prefixLock}); stop them or choose another prefix`)
  }
  let slot = -1
  for (let s = 0; s < MAX_SLOTS; s++) {
    if (tryCreate(slotFile(stateDir, s), JSON.stringify({pid: process.pid, startTime: selfStart, prefix, baseDir: '', ownsBaseDir: false, sshd: []}))) {
      slot = s
      break
    }
  }
  if (slot < 0) {
    rmSync(prefixLock, {force: true})
    throw new UserError(`local hosts: all ${MAX_SLOTS} address blocks are in use (see ${stateDir})`)
  }
  return {stateDir, slot, release: () => releaseSlot(stateDir, slot, prefix)}
}

/** Record a running set's state: write + rename, so a reader never sees a half-written file. */
export function writeSlotState(stateDir: string, slot: number, state: SlotState): void {
  const file = slotFile(stateDir, slot)
  const tmp = `${file}.tmp`
  writeFileSync(tmp, JSON.stringify(state), {mode: 0o600})
  renameSync(tmp, file)
}

/** Give the address block and the prefix back. */
export function releaseSlot(stateDir: string, slot: number, prefix: string): void {
  rmSync(slotFile(stateDir, slot), {force: true})
  rmSync(prefixLockFile(stateDir, prefix), {force: true})
}
