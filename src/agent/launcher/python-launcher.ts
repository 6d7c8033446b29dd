import {spawn, type ChildProcess} from 'node:child_process'
import {constants} from 'node:os'
import {FrameReader, Kind, type Frame} from './frames.js'
import {killGroup} from './kill.js'
import {PYTHON_LAUNCHER} from './python-source.js'
import {hasNul, killRequest, spawnRequest} from './requests.js'
import type {ChildEvents} from './types.js'

export interface LaunchRequest {
  argv: string[]
  env: NodeJS.ProcessEnv
  stdin: string | undefined
  events: ChildEvents
  /** Known once the launcher has started it. */
  pid?: number
}

/**
 * The launcher went away. Before its hello it had read no request, so `unstarted`
 * holds them all, safe to start another way; after it, they have failed already.
 */
export type OnGone = (launcher: PythonLauncher, reason: string, unstarted: LaunchRequest[]) => void

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]))
const KILL_GRACE_MS = 5000

interface Holdable {
  ref(): void
  unref(): void
}

/** One python launcher process and the commands it is running for the agent. */
export class PythonLauncher {
  /** The launcher's own pid, from its hello: the parent of every command it starts. */
  pid: number | undefined
  dead = false
  private readonly proc: ChildProcess
  private readonly requests = new Map<number, LaunchRequest>()
  private nextId = 1
  private stderrTail = ''
  private startError: Error | undefined

  constructor(python: string, private readonly onGone: OnGone) {
    // Its own group, like the commands: a signal to the agent's group is the agent's to pass on.
    this.proc = spawn(python, ['-I', '-S', '-c', PYTHON_LAUNCHER], {detached: true, stdio: ['pipe', 'pipe', 'pipe']})
    const frames = new FrameReader()
    this.proc.stdout!.on('data', (b: Buffer) => frames.push(b, (f) => this.onFrame(f)))
    this.proc.stderr!.setEncoding('utf8')
    this.proc.stderr!.on('data', (t: string) => (this.stderrTail = (this.stderrTail + t).slice(-2000)))
    // A write after its death fails with EPIPE; the death itself is handled on 'close'.
    this.proc.stdin!.on('error', () => {})
    this.proc.on('error', (e) => {
      this.startError ??= e
      if (this.proc.pid === undefined) this.gone()
    })
    this.proc.on('close', () => this.gone())
  }

  launch(req: LaunchRequest): void {
    // Where Node's spawn would throw, so does this.
    if (hasNul(req.argv, req.env)) throw new TypeError('The arguments and environment of a command must be strings without null bytes')
    const id = this.nextId++
    this.requests.set(id, req)
    if (this.requests.size === 1) this.hold(true)
    this.proc.stdin!.write(spawnRequest(id, req.argv, req.env, req.stdin))
  }

  /** Signal every command's group, including one read but not yet reported as started. */
  killAll(signal: NodeJS.Signals): void {
    if (!this.dead) this.proc.stdin!.write(killRequest(constants.signals[signal]))
  }

  private onFrame(f: Frame): void {
    if (f.kind === Kind.Hello) {
      this.pid = f.payload.readUInt32LE(0)
      return
    }
    const req = this.requests.get(f.id)
    if (!req) return
    const ev = req.events
    if (f.kind === Kind.Stdout) ev.stdout(f.payload)
    else if (f.kind === Kind.Stderr) ev.stderr(f.payload)
    else if (f.kind === Kind.Spawned) {
      req.pid = f.payload.readUInt32LE(0)
      ev.spawned(req.pid)
    } else if (f.kind === Kind.Exit) {
      this.forget(f.id)
      const code = f.payload.readInt32LE(0)
      const signal = f.payload.readInt32LE(4)
      ev.closed(code < 0 ? null : code, signal ? (SIGNAL_NAMES.get(signal) ?? null) : null)
    } else if (f.kind === Kind.Failed) {
      this.forget(f.id)
      ev.failed(spawnError(req.argv, f.payload.toString()))
    }
  }

  private forget(id: number): void {
    this.requests.delete(id)
    if (this.requests.size === 0) this.hold(false)
  }

  /** Keep the agent alive only while a command is outstanding. */
  private hold(on: boolean): void {
    const handles = [this.proc, this.proc.stdin, this.proc.stdout, this.proc.stderr] as unknown as Holdable[]
    for (const h of handles) if (h) on ? h.ref() : h.unref()
  }

  private gone(): void {
    if (this.dead) return
    this.dead = true
    this.hold(false)
    const reqs = [...this.requests.values()]
    this.requests.clear()
    const reason = this.reason()
    if (this.pid === undefined) return this.onGone(this, reason, reqs)
    for (const r of reqs) {
      // Its output has nowhere to go now: stop it rather than leave it running unwatched.
      const pid = r.pid
      if (pid) {
        killGroup(pid, 'SIGTERM')
        setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS).unref()
      }
      r.events.failed(new Error(`the step launcher (pid ${this.pid}) ${reason} while the command ran`))
    }
    this.onGone(this, reason, [])
  }

  /** How it went: "exited with code 3 (its last word)", "was killed by SIGKILL", or why it could not be run. */
  private reason(): string {
    if (this.startError) return this.startError.message
    const how = this.proc.signalCode ? `was killed by ${this.proc.signalCode}` : `exited with code ${this.proc.exitCode}`
    const said = this.stderrTail.trim().split('\n').at(-1)
    return said ? `${how} (${said})` : how
  }
}

/** The error Node's spawn would give, so callers see one shape either way. */
function spawnError(argv: string[], code: string): Error {
  return Object.assign(new Error(`spawn ${argv[0]} ${code}`), {code, syscall: `spawn ${argv[0]}`, path: argv[0], spawnargs: argv.slice(1)})
}
