import type {JournalRecord, RunMode} from '../protocol/index.js'
import type {HostState} from './host-state.js'

/**
 * What happens to each host during a fleet run, as one stream of events: the
 * orchestrator emits them, listeners (the store writer, the terminal progress,
 * whatever comes next) take what they need. Like Ansible's callback plugins: the
 * orchestrator knows no listener, a listener knows no orchestrator.
 */
export interface HostRef {
  /** The host's id in the store. */
  id: number
  name: string
}

export type HostEvent =
  /** The host's state changed; `error` null clears the last error, undefined keeps it. */
  | {kind: 'state'; host: HostRef; state: HostState; error?: string | null}
  /** A passing note while in `state` (installing Node.js, reconnecting): shown, not recorded. */
  | {kind: 'note'; host: HostRef; state: HostState; text: string}
  /** The host key the host presented (recorded on first use). */
  | {kind: 'host-key'; host: HostRef; key: string}
  /** The agent run the host is following now. */
  | {kind: 'agent-run'; host: HostRef; run: string; mode: RunMode}
  /** Journal records as they arrived from the host's agent, in seq order. */
  | {kind: 'records'; host: HostRef; records: JournalRecord[]}
  /** The host's part of the run is over; `state` as recorded, `note` why (e.g. finished in an earlier run). */
  | {kind: 'done'; host: HostRef; state: HostState; note?: string}

export interface HostListener {
  onEvent(e: HostEvent): void
  /** Write out what the listener holds back (e.g. batched records). Throws when it cannot. */
  flush?(host: HostRef): void
  /** The run is over: flush everything, stop timers, draw the last frame. */
  close?(): void
}

/** A listener failed (its disk full, say): not the host's fault, so the whole run stops. */
export class ListenerFailure extends Error {
  constructor(readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause))
    this.name = 'ListenerFailure'
  }
}

/**
 * The bus: emit() hands an event to every listener in order. A listener that
 * fails — here, or later in a timer of its own, through fail() — stops the run
 * once, through onFailure; emit() and flush() then throw a ListenerFailure, so
 * the host session that called them stops too.
 */
export class HostEvents {
  private readonly listeners: HostListener[] = []
  private failure?: ListenerFailure

  constructor(private readonly onFailure: (f: ListenerFailure) => void = () => {}) {}

  add(listener: HostListener): this {
    this.listeners.push(listener)
    return this
  }

  emit(e: HostEvent): void {
    this.guard((l) => l.onEvent(e))
  }

  /** Listeners write out what they hold for this host: after it, the store has every record emitted so far. */
  flush(host: HostRef): void {
    this.guard((l) => l.flush?.(host))
  }

  close(): void {
    for (const l of this.listeners) {
      try {
        l.close?.()
      } catch (e) {
        this.fail(e)
      }
    }
  }

  /** For listeners whose own timers fail: report it once, and stop the run. */
  fail(e: unknown): void {
    if (this.failure) return
    this.failure = e instanceof ListenerFailure ? e : new ListenerFailure(e)
    this.onFailure(this.failure)
  }

  private guard(fn: (l: HostListener) => void): void {
    if (this.failure) throw this.failure
    for (const l of this.listeners) {
      try {
        fn(l)
      } catch (e) {
        this.fail(e)
        throw this.failure!
      }
    }
  }
}
