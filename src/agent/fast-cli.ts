/**
 * The agent's hot path without oclif: `run`, `start`, `follow`, `status` and
 * `undo` with plain, valid flags are parsed here (src/cli/fast-flags.ts) and run
 * at once. fleet starts the agent twice per host (start, the detached run), and
 * on a host oclif's start-up (loading and evaluating it, finding the package,
 * building the command) cost more CPU than the command's own work. The flags here
 * mirror commands/agent/*.ts and src/cli/agent-flags.ts; keep them in step.
 */
import {resolve} from 'node:path'
import {parseFast, type FlagSpec, type Values} from '../cli/fast-flags.js'
import {UserError} from '../errors/user-error.js'
import type {RunRequest} from './run.js'
import {defaultStateDir} from './state-dir.js'

const STATE_DIR: FlagSpec = {kind: 'string', env: 'FLEET_AGENT_STATE_DIR'}
const RUN_FLAGS: Record<string, FlagSpec> = {
  playbook: {kind: 'string', char: 'p', required: true},
  vars: {kind: 'string'},
  'state-dir': STATE_DIR,
  'from-step': {kind: 'string'},
  only: {kind: 'string'},
  'dry-run': {kind: 'boolean'},
  json: {kind: 'boolean'},
  'detached-child': {kind: 'boolean'},
}
/** Exported so a test holds them to the oclif commands' flags. */
export const SPECS: Record<string, Record<string, FlagSpec>> = {
  run: {...RUN_FLAGS, stream: {kind: 'boolean'}},
  start: {...RUN_FLAGS, follow: {kind: 'boolean'}},
  follow: {run: {kind: 'string'}, from: {kind: 'integer'}, 'state-dir': STATE_DIR, 'no-wait': {kind: 'boolean'}},
  status: {run: {kind: 'string'}, 'state-dir': STATE_DIR, json: {kind: 'boolean'}},
  undo: {
    playbook: RUN_FLAGS.playbook,
    vars: RUN_FLAGS.vars,
    'state-dir': STATE_DIR,
    'to-step': {kind: 'string'},
    'dry-run': {kind: 'boolean'},
    json: {kind: 'boolean'},
    detach: {kind: 'boolean'},
    'detached-child': {kind: 'boolean'},
  },
}

const str = (v: Values[string]) => (typeof v === 'string' ? v : undefined)
const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined)
const stateDirOf = (f: Values) => str(f['state-dir']) ?? defaultStateDir()

/** The flags again as arguments for the detached `agent run` (as src/cli/agent-flags.ts runArgs). */
function detachedArgs(f: Values, mode: 'run' | 'undo'): string[] {
  const args = [mode, '--playbook', resolve(str(f.playbook)!), '--state-dir', resolve(stateDirOf(f))]
  if (f.vars) args.push('--vars', resolve(str(f.vars)!))
  if (f['from-step']) args.push('--from-step', str(f['from-step'])!)
  if (f.only) args.push('--only', str(f.only)!)
  if (f['to-step']) args.push('--to-step', str(f['to-step'])!)
  return args
}

const print = (t: string) => process.stdout.write(t)

/** A detached run works from / (as `agent start` starts it), so it holds no login's folder; its paths are resolved first. */
function detachCwd(req: RunRequest): void {
  req.playbookPath = resolve(req.playbookPath)
  if (req.varsPath) req.varsPath = resolve(req.varsPath)
  req.stateDir = resolve(req.stateDir)
  process.chdir('/')
}

/**
 * Each command imports only what it needs (the build splits the bundle into chunks):
 * following or reading a journal needs no YAML, templating or playbook schema.
 */
async function dispatch(command: string, f: Values): Promise<number> {
  switch (command) {
    case 'run': {
      const {runInForeground} = await import('./invoke.js')
      const req: RunRequest = {mode: 'run', playbookPath: str(f.playbook)!, varsPath: str(f.vars), stateDir: stateDirOf(f), only: list(str(f.only)), fromStep: str(f['from-step'])}
      const opts = {json: !!f.json, dryRun: !!f['dry-run'], detachedChild: !!f['detached-child'], stream: !!f.stream}
      if (opts.detachedChild) detachCwd(req)
      return runInForeground(req, opts, print)
    }
    case 'start': {
      // The detached run loads the playbook; this process only starts it (and follows it).
      const {startAndFollow, startInBackground} = await import('./invoke-start.js')
      return (f.follow ? startAndFollow : startInBackground)({stateDir: stateDirOf(f)}, detachedArgs(f, 'run'), !!f.json, print)
    }
    case 'undo': {
      if (f.detach) {
        const {startInBackground} = await import('./invoke-start.js')
        return startInBackground({stateDir: stateDirOf(f)}, detachedArgs(f, 'undo'), !!f.json, print)
      }
      const {runInForeground} = await import('./invoke.js')
      const req: RunRequest = {mode: 'undo', playbookPath: str(f.playbook)!, varsPath: str(f.vars), stateDir: stateDirOf(f), toStep: str(f['to-step'])}
      return runInForeground(req, {json: !!f.json, dryRun: !!f['dry-run'], detachedChild: !!f['detached-child']}, print)
    }
    case 'follow': {
      const [{exitCodeFor, followJournal}, {lastRunId}, {StateDir}] = await Promise.all([import('./follow.js'), import('./runs.js'), import('./state-dir.js')])
      const state = new StateDir(stateDirOf(f))
      const run = str(f.run) ?? lastRunId(state)
      if (!run) throw new UserError(`No run has been started in ${state.root} yet.`, 2)
      return exitCodeFor(await followJournal(state, run, (f.from as number | undefined) ?? 0, (line) => process.stdout.write(line + '\n'), {once: !!f['no-wait']}))
    }
    case 'status': {
      const [{lastRunId, summarizeRun}, {StateDir}, {renderRunSummary}] = await Promise.all([import('./runs.js'), import('./state-dir.js'), import('./status-text.js')])
      const state = new StateDir(stateDirOf(f))
      const run = str(f.run) ?? lastRunId(state)
      const summary = run ? summarizeRun(state, run) : undefined
      if (!summary) {
        if (f.json) {
          print('null\n')
          return 0
        }
        throw new UserError(run ? `Run ${run} has no journal in ${state.root}.` : `No run has been started in ${state.root} yet.`, 2)
      }
      print(f.json ? JSON.stringify(summary) + '\n' : renderRunSummary(summary))
      return 0
    }
  }
  throw new Error(`no fast path for ${command}`)
}

/**
 * Run the command here when the fast path understands it; false leaves it to oclif.
 * A UserError is printed as its one sentence, like the oclif commands do.
 */
export async function runFast(argv: readonly string[]): Promise<boolean> {
  const [command, ...rest] = argv
  const spec = command === undefined ? undefined : SPECS[command]
  if (!spec) return false
  const flags = parseFast(rest, spec)
  if (!flags) return false
  // `agent start --dry-run` is refused by the oclif command, with its message.
  if (command === 'start' && flags['dry-run']) return false
  try {
    process.exitCode = await dispatch(command, flags)
  } catch (e) {
    if (!(e instanceof UserError)) throw e
    process.stderr.write(`Error: ${e.message}\n`)
    process.exitCode = e.exitCode
  }
  return true
}
