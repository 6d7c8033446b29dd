/**
 * `fleet status`, `prepare` and `cleanup` without oclif: status is typed often (and by
 * scripts in loops), and prepare/cleanup are the room's main job; loading oclif and
 * every command's class with its dependencies cost ~0.2 s of CPU before any of them
 * began. Plain, valid flags only (src/cli/fast-flags.ts); anything else (--help
 * included) goes to the oclif command. The tables mirror commands/fleet/status.ts,
 * prepare.ts and cleanup.ts; a test holds them in step.
 */
import {sayUserError, UserError} from '../errors/user-error.js'
import type {RunRequestFlags} from '../command-kit/run-request.js'
import {parseFast, type FlagSpec, type Values} from './fast-flags.js'

/** dbFlag (src/command-kit/fleet-flags.ts). */
const DB = {kind: 'string', env: 'FLEET_DB', default: './fleet.db'} as const

export const STATUS_FLAGS: Record<string, FlagSpec> = {
  db: DB,
  host: {kind: 'string'},
  json: {kind: 'boolean'},
  watch: {kind: 'boolean'},
  lines: {kind: 'integer', default: 20, min: 1},
}

const STRING = {kind: 'string'} as const
const BOOLEAN = {kind: 'boolean'} as const

/** runFlags (src/command-kit/fleet-flags.ts). */
const RUN_FLAGS: Record<string, FlagSpec> = {
  hosts: {kind: 'string', char: 'H'},
  user: {kind: 'string', default: 'ubuntu'},
  identity: {kind: 'string', char: 'i'},
  port: {kind: 'integer'},
  'known-hosts': STRING,
  db: DB,
  playbook: {kind: 'string', char: 'p', default: 'workshop'},
  vars: STRING,
  concurrency: {kind: 'integer', char: 'c', default: 32, min: 1},
  'max-errors': STRING,
  only: STRING,
  'connect-timeout': {kind: 'integer', default: 15, min: 1},
  compress: BOOLEAN,
  runtime: {kind: 'string', default: 'auto', options: ['auto', 'managed']},
  'runtime-mirror': {kind: 'string', default: 'https://registry.npmjs.org'},
  json: BOOLEAN,
  transport: {kind: 'string', options: ['ssh', 'ssm']},
  targets: STRING,
  region: STRING,
  profile: STRING,
  'cache-vars': STRING,
  'dry-run': BOOLEAN,
}

export const PREPARE_FLAGS: Record<string, FlagSpec> = {...RUN_FLAGS, steps: STRING, 'from-step': STRING, canary: {kind: 'integer', min: 0}}
export const CLEANUP_FLAGS: Record<string, FlagSpec> = {...RUN_FLAGS, 'to-step': STRING, 'keep-cache': BOOLEAN}

const TABLES: Record<string, Record<string, FlagSpec>> = {status: STATUS_FLAGS, prepare: PREPARE_FLAGS, cleanup: CLEANUP_FLAGS}

async function dispatch(command: string, f: Values): Promise<number> {
  if (command === 'status') {
    const {showStatus} = await import('../ui/status-command.js')
    return showStatus({db: f.db as string, host: f.host as string | undefined, json: !!f.json, watch: !!f.watch, lines: f.lines as number}, (t) => process.stdout.write(t))
  }
  const [{prepareRequest, cleanupRequest}, {runOrDryRun}] = await Promise.all([import('../command-kit/run-request.js'), import('../command-kit/fleet-run-command.js')])
  const flags = f as unknown as RunRequestFlags & Values
  const request = command === 'prepare' ? prepareRequest(flags) : cleanupRequest(flags)
  return runOrDryRun(command as 'prepare' | 'cleanup', request, {dryRun: !!f['dry-run'], json: !!f.json})
}

/** Run the command here when the fast path understands it; false leaves it to oclif. */
export async function runFleetFast(argv: readonly string[]): Promise<boolean> {
  const [command, ...rest] = argv
  const table = command !== undefined && Object.hasOwn(TABLES, command) ? TABLES[command] : undefined
  if (!table) return false
  const f = parseFast(rest, table)
  if (!f) return false
  try {
    process.exitCode = await dispatch(command!, f)
  } catch (e) {
    if (!(e instanceof UserError)) throw e
    sayUserError(e)
  }
  return true
}
