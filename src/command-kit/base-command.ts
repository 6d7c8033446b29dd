// src/command-kit: what the oclif commands (commands/) build on — this base class, the
// shared flags, the closing summaries. It sits under the commands; the wiring that
// lists and loads them is src/cli, above them. Nothing here imports either.
import {Command} from '@oclif/core'
import {sayUserError, UserError} from '../errors/user-error.js'

/**
 * Commands of both CLIs extend this: a UserError (bad file, bad flag value)
 * is printed as its one sentence with no stack trace, and sets the exit code.
 */
export abstract class BaseCommand extends Command {
  protected async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    if (err instanceof UserError) {
      sayUserError(err)
      return undefined
    }
    return super.catch(err)
  }

  /** Print one JSON value as a line (for --json and NDJSON output). */
  protected printJson(value: unknown): void {
    process.stdout.write(JSON.stringify(value) + '\n')
  }
}
