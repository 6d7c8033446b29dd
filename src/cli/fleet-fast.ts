/**
 * `fleet status` without oclif: it is typed often (and by scripts in loops), and
 * loading oclif and every command's dependencies (ssh2, the AWS SDK) cost several
 * times more than reading the store. Plain, valid flags only (src/cli/fast-flags.ts);
 * anything else goes to the oclif command. STATUS_FLAGS mirrors
 * commands/fleet/status.ts; a test holds them in step.
 */
import {UserError} from '../errors/user-error.js'
import {parseFast, type FlagSpec} from './fast-flags.js'

export const STATUS_FLAGS: Record<string, FlagSpec> = {
  db: {kind: 'string', env: 'FLEET_DB', default: './fleet.db'},
  host: {kind: 'string'},
  json: {kind: 'boolean'},
  watch: {kind: 'boolean'},
  lines: {kind: 'integer', default: 20},
}

/** Run the command here when the fast path understands it; false leaves it to oclif. */
export async function runFleetFast(argv: readonly string[]): Promise<boolean> {
  const [command, ...rest] = argv
  if (command !== 'status') return false
  const f = parseFast(rest, STATUS_FLAGS)
  if (!f) return false
  const {showStatus} = await import('../ui/status-command.js')
  try {
    process.exitCode = await showStatus({db: f.db as string, host: f.host as string | undefined, json: !!f.json, watch: !!f.watch, lines: f.lines as number}, (t) => process.stdout.write(t))
  } catch (e) {
    if (!(e instanceof UserError)) throw e
    process.stderr.write(`Error: ${e.message}\n`)
    process.exitCode = e.exitCode
  }
  return true
}
