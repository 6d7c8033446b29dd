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
