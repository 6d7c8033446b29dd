/**
 * The agent's command line as fleet calls it: each subcommand with the flags it
 * takes, typed. The orchestrator builds argv with agentArgv(); the agent's
 * fast-path flag tables are keyed by these same names (src/cli/agent-fast.ts),
 * so renaming a flag here fails to compile on both sides instead of failing on a
 * host. The oclif commands' flags are held to those tables by a test.
 */

/** Flags every run-like subcommand takes. */
interface PlaybookFlags {
  playbook: string
  vars?: string
  'state-dir'?: string
  json?: boolean
  'dry-run'?: boolean
}

/**
 * The caller's id for a start (fleet: one per fleet run and host). A later start with
 * the same id and inputs is answered with the run it began, even one that has ended,
 * instead of starting another: a caller that lost the first answer re-attaches.
 */
interface RequestFlag {
  request?: string
}

interface RunFlags extends PlaybookFlags, RequestFlag {
  only?: string
  'from-step'?: string
  /** The process `agent start` (or fleet's streaming start) detached: it answers on fd 3. */
  'detached-child'?: boolean
}

export interface AgentFlags {
  /** Run in the foreground. */
  run: RunFlags & {
    /** With --detached-child: stream start's answer and the journal on fd 3 (fleet's one-process start). */
    stream?: boolean
  }
  /** Start (or resume) a detached run and print its id; --follow also streams its journal. */
  start: RunFlags & {follow?: boolean}
  /** Undo the playbook's steps (in the background with --detach). */
  undo: PlaybookFlags & RequestFlag & {'to-step'?: string; detach?: boolean; 'detached-child'?: boolean}
  /** Print a run's journal after seq FROM and keep following it (--no-wait: what there is, then exit). */
  follow: {run?: string; from?: number; 'state-dir'?: string; 'no-wait'?: boolean}
  /** A run's summary (--json: a StatusAnswer). */
  status: {run?: string; 'state-dir'?: string; json?: boolean}
  /** Where this host's logs are (--json: a LogsAnswer). */
  logs: {playbook?: string; vars?: string; 'state-dir'?: string; json?: boolean}
  /** Redact the playbook's secrets in the files and folders given as positional arguments (fleet runs it locally on collected logs). */
  redact: {playbook: string; vars?: string; json?: boolean}
}

export type AgentSubcommand = keyof AgentFlags

/**
 * The words after the agent's entry point: the subcommand, then each given flag
 * (`--name value`, or `--name` alone for a true boolean), in the order given,
 * then the positional arguments. Unset and false flags are left out.
 */
export function agentArgv<S extends AgentSubcommand>(sub: S, flags: AgentFlags[S], positional: string[] = []): string[] {
  const argv: string[] = [sub]
  for (const [name, value] of Object.entries(flags as Record<string, string | number | boolean | undefined>)) {
    if (value === undefined || value === false) continue
    argv.push(`--${name}`)
    if (value !== true) argv.push(String(value))
  }
  return [...argv, ...positional]
}

/** Which steps a run covers, as the instructor asked (--steps, --from-step, --to-step): passed through to start and undo. */
export interface StepSelection {
  only?: string
  'from-step'?: string
  'to-step'?: string
}
