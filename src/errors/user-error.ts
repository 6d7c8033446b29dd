import {EXIT} from '../protocol/exit-codes.js'

/**
 * A mistake in what the user gave us (a file, a flag). Commands print its
 * message as one sentence, without a stack trace, and exit non-zero.
 */
export class UserError extends Error {
  readonly exitCode: number
  /** Exit once said, instead of waiting for work still under way (the hosts' agents carry on without us). */
  readonly exitNow: boolean
  constructor(message: string, exitCode: number = EXIT.badInput, opts: {exitNow?: boolean} = {}) {
    super(message)
    this.name = 'UserError'
    this.exitCode = exitCode
    this.exitNow = opts.exitNow ?? false
  }
}

/**
 * How every command says a UserError (the oclif commands, the fast paths, a CLI's main):
 * its one sentence on stderr and its exit code; with exitNow the process ends at once.
 */
export function sayUserError(e: UserError): void {
  process.stderr.write(`Error: ${e.message}\n`)
  process.exitCode = e.exitCode
  if (e.exitNow) process.exit(e.exitCode)
}

/** Where in a file a problem sits, for "FILE:LINE: field: problem" sentences. */
export interface Place {
  file: string
  line?: number
  field?: string
}

export function describePlace(place: Place): string {
  const at = place.line ? `${place.file}:${place.line}` : place.file
  return place.field ? `${at}: field "${place.field}"` : at
}
