/**
 * The agent's hot path without oclif: `run`, `start`, `follow`, `status`, `undo`
 * and `logs` with plain, valid flags are parsed here (src/cli/fast-flags.ts) and run
 * at once. fleet starts the agent twice per host (start, the detached run), and
 * on a host oclif's start-up (loading and evaluating it, finding the package,
 * building the command) cost more CPU than the command's own work. The flag tables
 * are keyed by the agent's command-line contract (AgentFlags in
 * src/protocol/agent-cli.ts), so a flag renamed, added or dropped there fails to
 * compile here; a test holds them to the oclif commands' flags (commands/agent/*.ts).
 * On a host this is the whole command line: fleet ships the agent without oclif (scripts/build.mjs).
 */
import {resolve} from 'node:path'
import type {RunRequest} from '../agent/run.js'
import {onlyOf, runArgs, stateDirOf} from '../command-kit/agent-args.js'
import {sayUserError, UserError} from '../errors/user-error.js'
import type {AgentFlags, AgentSubcommand} from '../protocol/agent-cli.js'
import {parseFast, type FlagSpec, type Values} from './fast-flags.js'

/** The subcommands with a fast path (`redact`, which fleet runs only here, always goes to oclif). */
type FastSubcommand = 'run' | 'start' | 'follow' | 'status' | 'undo' | 'logs'

/** The kind of flag a type in the contract is. */
type KindOf<T> = NonNullable<T> extends boolean ? 'boolean' : NonNullable<T> extends number ? 'integer' : 'string'

/** A table of exactly the flags of AgentFlags[S], each of the kind its type there says. */
type FlagTable<S extends AgentSubcommand> = {[K in keyof AgentFlags[S] & string]: FlagSpec & {kind: KindOf<AgentFlags[S][K]>}}

const STRING = {kind: 'string'} as const
const BOOLEAN = {kind: 'boolean'} as const
const PLAYBOOK = {kind: 'string', char: 'p', required: true} as const
const STATE_DIR = {kind: 'string', env: 'FLEET_AGENT_STATE_DIR'} as const

// Written out (no spreads) so that a flag the contract lacks is an excess property, an error.
const TABLES = {
  run: {playbook: PLAYBOOK, vars: STRING, 'state-dir': STATE_DIR, 'from-step': STRING, only: STRING, 'dry-run': BOOLEAN, json: BOOLEAN, 'detached-child': BOOLEAN, request: STRING, stream: BOOLEAN},
  start: {playbook: PLAYBOOK, vars: STRING, 'state-dir': STATE_DIR, 'from-step': STRING, only: STRING, 'dry-run': BOOLEAN, json: BOOLEAN, 'detached-child': BOOLEAN, request: STRING, follow: BOOLEAN},
  follow: {run: STRING, from: {kind: 'integer'}, 'state-dir': STATE_DIR, 'no-wait': BOOLEAN},
  status: {run: STRING, 'state-dir': STATE_DIR, json: BOOLEAN},
  logs: {playbook: {kind: 'string', char: 'p'}, vars: STRING, 'state-dir': STATE_DIR, json: BOOLEAN},
  undo: {playbook: PLAYBOOK, vars: STRING, 'state-dir': STATE_DIR, 'to-step': STRING, 'dry-run': BOOLEAN, json: BOOLEAN, detach: BOOLEAN, 'detached-child': BOOLEAN, request: STRING},
} satisfies {[S in FastSubcommand]: FlagTable<S>}

/** Exported so a test holds them to the oclif commands' flags. */
export const SPECS: Readonly<Record<string, Record<string, FlagSpec>>> = TABLES

const print = (t: string) => process.stdout.write(t)

/** A detached run works from / (as `agent start` starts it), so it holds no login's folder; its paths are resolved first. */
function detachCwd(req: RunRequest): void {
  req.playbookPath = resolve(req.playbookPath)
  if (req.varsPath) req.varsPath = resolve(req.varsPath)
  req.stateDir = resolve(req.stateDir)
  process.chdir('/')
}

/** parseFast's values for subcommand S: its table (held to AgentFlags[S] above) says which flags of which kinds they hold. */
const flagsOf = <S extends FastSubcommand>(values: Values) => values as unknown as AgentFlags[S]

/**
 * Each command imports only what it needs (the build splits the bundle into chunks):
 * following or reading a journal needs no YAML, templating or playbook schema.
 */
async function dispatch(command: FastSubcommand, values: Values): Promise<number> {
  switch (command) {
    case 'run': {
      const f = flagsOf<'run'>(values)
      const {runInForeground} = await import('../agent/invoke.js')
      const req: RunRequest = {mode: 'run', playbookPath: f.playbook, varsPath: f.vars, stateDir: stateDirOf(f), only: onlyOf(f), fromStep: f['from-step'], request: f.request}
      const opts = {json: !!f.json, dryRun: !!f['dry-run'], detachedChild: !!f['detached-child'], stream: !!f.stream}
      if (opts.detachedChild) detachCwd(req)
      return runInForeground(req, opts, print)
    }
    case 'start': {
      const f = flagsOf<'start'>(values)
      // The detached run loads the playbook; this process only starts it (and follows it).
      const {startAndFollow, startInBackground} = await import('../agent/invoke-start.js')
      return (f.follow ? startAndFollow : startInBackground)({stateDir: stateDirOf(f)}, runArgs(f, 'run'), !!f.json, print)
    }
    case 'undo': {
      const f = flagsOf<'undo'>(values)
      if (f.detach) {
        const {startInBackground} = await import('../agent/invoke-start.js')
        return startInBackground({stateDir: stateDirOf(f)}, runArgs(f, 'undo', f['to-step']), !!f.json, print)
      }
      const {runInForeground} = await import('../agent/invoke.js')
      const req: RunRequest = {mode: 'undo', playbookPath: f.playbook, varsPath: f.vars, stateDir: stateDirOf(f), toStep: f['to-step'], request: f.request}
      return runInForeground(req, {json: !!f.json, dryRun: !!f['dry-run'], detachedChild: !!f['detached-child']}, print)
    }
    case 'follow': {
      const f = flagsOf<'follow'>(values)
      const [{exitCodeFor, followJournal}, {lastRunId}, {StateDir}] = await Promise.all([import('../agent/follow.js'), import('../agent/runs.js'), import('../agent/state-dir.js')])
      const state = new StateDir(stateDirOf(f))
      const run = f.run ?? lastRunId(state)
      if (!run) throw new UserError(`No run has been started in ${state.root} yet.`, 2)
      return exitCodeFor(await followJournal(state, run, f.from ?? 0, (line) => process.stdout.write(line + '\n'), {once: !!f['no-wait']}))
    }
    case 'logs': {
      const f = flagsOf<'logs'>(values)
      const {logPaths, printLogPaths} = await import('../agent/log-paths.js')
      return printLogPaths(await logPaths({stateDir: stateDirOf(f), playbook: f.playbook, vars: f.vars}), !!f.json, print)
    }
    case 'status': {
      const f = flagsOf<'status'>(values)
      const [{lastRunId, summarizeRun}, {StateDir}, {renderRunSummary}] = await Promise.all([import('../agent/runs.js'), import('../agent/state-dir.js'), import('../agent/status-text.js')])
      const state = new StateDir(stateDirOf(f))
      const run = f.run ?? lastRunId(state)
      const summary = run ? summarizeRun(state, run) : undefined
      if (!summary) {
        // No run yet is an answer (null); a run asked for by name that is not there is a mistake.
        if (f.json && !f.run) {
          print('null\n')
          return 0
        }
        throw new UserError(run ? `Run ${run} has no journal in ${state.root}.` : `No run has been started in ${state.root} yet.`, 2)
      }
      print(f.json ? JSON.stringify(summary) + '\n' : renderRunSummary(summary))
      return 0
    }
  }
}

const isFast = (command: string | undefined): command is FastSubcommand => command !== undefined && Object.hasOwn(TABLES, command)

/**
 * Run the command here when the fast path understands it; false leaves it to oclif.
 * A UserError is printed as its one sentence, like the oclif commands do.
 */
export async function runFast(argv: readonly string[]): Promise<boolean> {
  const [command, ...rest] = argv
  if (!isFast(command)) return false
  const flags = parseFast(rest, TABLES[command])
  if (!flags) return false
  // `agent start --dry-run` is refused by the oclif command, with its message.
  if (command === 'start' && flags['dry-run']) return false
  try {
    process.exitCode = await dispatch(command, flags)
  } catch (e) {
    if (!(e instanceof UserError)) throw e
    sayUserError(e)
  }
  return true
}
