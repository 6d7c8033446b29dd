/**
 * A running set of local hosts: the sshd listeners it started (each our child, run
 * with `-D -e -f CONFIG`), and what tests do to them (drop connections, stop and start
 * a host, rotate its host key) and the stop that takes everything down again: the
 * sshds and their sessions, processes left running as the accounts, the sudoers file,
 * the homes and folders. Only pids this set started (and their sshd descendants, the
 * per-connection processes) are ever signalled. A process exiting without stop()
 * still kills its sshds (emergencyStop, from process 'exit').
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {closeSync, openSync, rmSync} from 'node:fs'
import {rm} from 'node:fs/promises'

import {descendants, isAlive, processTable, readProc, readUid, signalPid, waitGone} from '../machine/procs.js'
import {replaceHostKey} from './host-files.js'
import {waitListening} from './listeners.js'
import {killSshds, releaseSlot, selfStart, writeSlotState, type SshdRecord} from './run-state.js'
import type {LocalHost, LocalHostSet} from './types.js'

const liveSets = new Set<LocalHostSetImpl>()
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const set of liveSets) set.emergencyStop()
  })
}

export class LocalHostSetImpl implements LocalHostSet {
  readonly hosts: LocalHost[] = []
  readonly timings = {accountsMs: 0, filesMs: 0, sshdMs: 0, totalMs: 0}
  identityFile = ''
  private children = new Map<number, ChildProcess>()
  private startTimes = new Map<number, number>()
  private sudoersFile?: string
  private stopped = false

  constructor(
    readonly prefix: string,
    readonly baseDir: string,
    private readonly ownsBaseDir: boolean,
    private readonly slot: number,
    private readonly stateDir: string,
    private readonly sshdPath: string,
    private readonly sshdArgs: string[],
    /** Command prefix the sshds run under (entering a network namespace), or none. */
    private readonly wrap: string[] = [],
  ) {
    liveSets.add(this)
    installExitHook()
  }

  setSudoersFile(file: string): void {
    this.sudoersFile = file
    this.saveState()
  }

  private sshdRecords(): SshdRecord[] {
    return this.hosts
      .filter((h) => h.sshdPid !== undefined)
      .map((h) => ({pid: h.sshdPid!, startTime: this.startTimes.get(h.index) ?? 0, config: h.configFile}))
  }

  saveState(): void {
    writeSlotState(this.stateDir, this.slot, {
      pid: process.pid,
      startTime: selfStart,
      prefix: this.prefix,
      baseDir: this.baseDir,
      ownsBaseDir: this.ownsBaseDir,
      sudoersFile: this.sudoersFile,
      sshd: this.sshdRecords(),
    })
  }

  host(h: LocalHost | number): LocalHost {
    const found = typeof h === 'number' ? this.hosts[h - 1] : this.hosts.find((x) => x === h || x.index === h.index)
    if (!found) throw new Error(`no local host ${typeof h === 'number' ? h : h.name} in this set`)
    return found
  }

  /** Spawn the listeners of `hosts` (not running ones) and wait until all listen. */
  async launch(hosts: LocalHost[], timeoutMs: number): Promise<void> {
    const started: LocalHost[] = []
    const exited = new Map<number, number | null>()
    for (const h of hosts) {
      if (h.sshdPid !== undefined) continue
      const fd = openSync(h.logFile, 'a', 0o600)
      let child: ChildProcess
      try {
        // The wrapper (nsenter) execs sshd in place: the pid is the listener's.
        const argv = [...this.wrap, this.sshdPath, '-D', '-e', '-f', h.configFile, ...this.sshdArgs]
        child = spawn(argv[0], argv.slice(1), {
          stdio: ['ignore', fd, fd],
          env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C'},
        })
      } finally {
        closeSync(fd)
      }
      child.unref()
      const pid = child.pid
      if (pid === undefined) throw new Error(`could not start ${this.sshdPath} for ${h.name}`)
      h.sshdPid = pid
      this.children.set(h.index, child)
      this.startTimes.set(h.index, readProc(pid)?.startTime ?? 0)
      child.once('exit', (code) => {
        exited.set(h.index, code)
        if (this.children.get(h.index) === child) {
          this.children.delete(h.index)
          if (h.sshdPid === pid) h.sshdPid = undefined
        }
      })
      started.push(h)
    }
    this.saveState()
    await waitListening(started, exited, timeoutMs, this.wrap.length > 0)
  }

  sessionPids(hostRef: LocalHost | number): number[] {
    const h = this.host(hostRef)
    if (h.sshdPid === undefined) return []
    return descendants(h.sshdPid)
      .filter((p) => p.comm === 'sshd')
      .map((p) => p.pid)
  }

  killSessions(hostRef: LocalHost | number): number[] {
    const pids = this.sessionPids(hostRef)
    for (const pid of pids) signalPid(pid, 'SIGKILL')
    return pids
  }

  private async stopListener(h: LocalHost): Promise<void> {
    const pid = h.sshdPid
    if (pid === undefined) return
    const start = this.startTimes.get(h.index)
    if (isAlive(pid, start)) {
      signalPid(pid, 'SIGTERM')
      if (!(await waitGone(pid, start, 3000))) {
        signalPid(pid, 'SIGKILL')
        await waitGone(pid, start, 2000)
      }
    }
    if (h.sshdPid === pid) h.sshdPid = undefined
    this.children.delete(h.index)
  }

  async stopHost(hostRef: LocalHost | number): Promise<void> {
    const h = this.host(hostRef)
    this.killSessions(h)
    await this.stopListener(h)
    this.saveState()
  }

  async startHost(hostRef: LocalHost | number): Promise<void> {
    await this.launch([this.host(hostRef)], 15_000)
  }

  async rotateHostKey(hostRef: LocalHost | number): Promise<string> {
    const h = this.host(hostRef)
    await replaceHostKey(h)
    await this.stopListener(h)
    await this.launch([h], 15_000)
    return h.hostKeyPublic
  }

  hostsFileText(opts: {identity?: boolean} = {}): string {
    const identity = opts.identity ?? true
    return this.hosts
      .map((h) => `${h.user}@${h.address}:${h.port} name=${h.name}${identity ? ` identity=${h.identityFile}` : ''}\n`)
      .join('')
  }

  knownHostsText(): string {
    return this.hosts.map((h) => `${h.hostId} ${h.hostKeyPublic}\n`).join('')
  }

  async stop(opts: {keepHomes?: boolean; killUserProcesses?: boolean} = {}): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const h of this.hosts) this.killSessions(h)
    await Promise.all(this.hosts.map((h) => this.stopListener(h)))
    if (opts.killUserProcesses ?? true) this.killUserProcesses()
    if (this.sudoersFile) await rm(this.sudoersFile, {force: true})
    if (!opts.keepHomes) await Promise.all(this.hosts.map((h) => rm(h.home, {recursive: true, force: true})))
    if (this.ownsBaseDir) await rm(this.baseDir, {recursive: true, force: true})
    this.release()
  }

  /**
   * Processes still running as one of the set's accounts (a detached agent, a stray
   * `sleep`): they can only have come in through this set's sshds. SIGKILL them so
   * the next start gets clean homes.
   */
  private killUserProcesses(): void {
    const uids = new Set(this.hosts.map((h) => h.uid))
    for (const p of processTable().values()) {
      const uid = readUid(p.pid)
      if (uid !== undefined && uids.has(uid)) signalPid(p.pid, 'SIGKILL')
    }
  }

  private release(): void {
    liveSets.delete(this)
    releaseSlot(this.stateDir, this.slot, this.prefix)
  }

  /** Synchronous best effort, from process.on('exit'). */
  emergencyStop(): void {
    if (this.stopped) return
    this.stopped = true
    try {
      killSshds(this.sshdRecords())
      if (this.sudoersFile) rmSync(this.sudoersFile, {force: true})
      if (this.ownsBaseDir) rmSync(this.baseDir, {recursive: true, force: true})
    } finally {
      this.release()
    }
  }
}
