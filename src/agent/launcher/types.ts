/** What happens to one started command, whichever way it was started. */
export interface ChildEvents {
  /** It runs, as the leader of its own session and process group. */
  spawned(pid: number): void
  stdout(chunk: Buffer): void
  stderr(chunk: Buffer): void
  /** It exited and both its output pipes reached their end (Node's 'close'). */
  closed(code: number | null, signal: NodeJS.Signals | null): void
  /** It could not be started, or its launcher went away under it. */
  failed(error: Error): void
}

/** Start argv in a new session with exactly env; stdin is the text to feed it, or /dev/null when undefined. */
export type Launch = (argv: string[], env: NodeJS.ProcessEnv, stdin: string | undefined, events: ChildEvents) => void
