import type {z} from 'zod'
import {describePlace, UserError, type Place} from '../errors/user-error.js'

/** One thing wrong with the input, at a place: becomes one sentence. */
export interface Problem extends Place {
  /** Completes the sentence after "FILE:LINE: field "F": ", ends with a period. */
  message: string
}

/** A value together with where it was written. */
export interface Sourced<T> {
  value: T
  place: Place
}

export function sentence(problem: Problem): string {
  return `${describePlace(problem)}: ${problem.message}`
}

/**
 * Sort problems for reading (the hosts file first, then other files such as the
 * ssh config, then flags; by line within a file) and drop repeated sentences
 * (a bad group variable is reported once, not once per host of the group).
 */
export function orderProblems(problems: Problem[], mainFile: string): Problem[] {
  const rank = (p: Problem): number => (p.file === mainFile ? 0 : p.file.startsWith('--') ? 2 : 1)
  const sorted = problems
    .map((p, i) => ({p, i}))
    .sort(
      (a, b) =>
        rank(a.p) - rank(b.p) ||
        (a.p.file < b.p.file ? -1 : a.p.file > b.p.file ? 1 : 0) ||
        (a.p.line ?? 0) - (b.p.line ?? 0) ||
        a.i - b.i,
    )
    .map(({p}) => p)
  const seen = new Set<string>()
  return sorted.filter((p) => {
    const s = sentence(p)
    if (seen.has(s)) return false
    seen.add(s)
    return true
  })
}

/** Every problem of an inventory at once: one sentence per line. */
export class InventoryError extends UserError {
  readonly problems: Problem[]
  constructor(problems: Problem[]) {
    super(problems.map(sentence).join('\n'))
    this.name = 'InventoryError'
    this.problems = problems
  }
}

/**
 * Run a field schema on a raw value; on failure, a message of the form
 * `"VALUE" <schema message>.` for a Problem.
 */
export function checkValue<S extends z.ZodType>(
  schema: S,
  raw: string,
): {ok: true; value: z.output<S>} | {ok: false; message: string} {
  const result = schema.safeParse(raw)
  if (result.success) return {ok: true, value: result.data}
  const issue = result.error.issues[0]
  return {ok: false, message: `${JSON.stringify(raw)} ${issue?.message ?? 'is not valid'}.`}
}
