/**
 * The exit codes of the agent's commands, as fleet reads them. Written once here so
 * the agent that sets them and the orchestrator that reads them cannot drift apart.
 */
export const EXIT = {
  /** The run ended ok. */
  ok: 0,
  /** The run ended failed (a step failed). */
  failed: 1,
  /** Bad input: a flag, the playbook, the vars, no such run. Nothing was changed. */
  badInput: 2,
  /** The run has not ended: it stopped without a run-end (killed, host rebooting), or is still going (`follow --no-wait`). */
  interrupted: 3,
  /** Another run holds this host's lock. */
  busy: 4,
  /** The run was abandoned (a newer run of the host took over). */
  abandoned: 5,
  /**
   * The host's disk (or the user's quota) is full: the agent could not write its journal, a
   * step log or its state. A run that had started ends failed with "no space left on the host:
   * PATH" (src/protocol/no-space.ts) as far as the disk allows, and the next start resumes it
   * once there is space; a start refused this way changed nothing.
   */
  noSpace: 6,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]
