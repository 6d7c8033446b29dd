import PQueue from 'p-queue'
import {UserError} from '../errors/user-error.js'
import {isErrorState, type HostState} from '../events/host-state.js'

export interface FanOutOptions {
  concurrency: number
  /** Stop starting new hosts once this many have failed (or were unreachable). */
  maxErrors?: number
  /** Run this many hosts to the end first; go on with the rest only if they all succeed. */
  canary?: number
}

export interface FanOutResult<T> {
  results: Map<T, HostState>
  /** Hosts never started: the canaries failed or --max-errors was reached. */
  notStarted: T[]
  stoppedBecause?: string
}

/** `--max-errors N|P%` against a number of hosts. */
export function parseMaxErrors(value: string | undefined, hosts: number): number | undefined {
  if (value === undefined) return undefined
  const m = value.trim().match(/^(\d+)(%?)$/)
  if (!m) throw new UserError(`--max-errors: "${value}" is not a number of hosts or a percentage (e.g. 3 or 10%).`)
  const n = Number(m[1])
  if (m[2]) {
    if (n > 100) throw new UserError(`--max-errors: ${value} is more than 100%.`)
    return Math.max(1, Math.ceil((hosts * n) / 100))
  }
  return n
}

/**
 * A sliding window over the hosts (p-queue): at most `concurrency` hosts are
 * in flight, and a host that finishes makes room for the next at once.
 */
export async function fanOut<T>(items: T[], work: (item: T) => Promise<HostState>, opts: FanOutOptions): Promise<FanOutResult<T>> {
  const results = new Map<T, HostState>()
  const notStarted: T[] = []
  let errors = 0
  let stoppedBecause: string | undefined
  const queue = new PQueue({concurrency: Math.max(1, opts.concurrency)})

  const schedule = (batch: T[]) =>
    batch.map((item) =>
      queue.add(async () => {
        if (stoppedBecause) {
          notStarted.push(item)
          return
        }
        const state = await work(item)
        results.set(item, state)
        if (isErrorState(state)) {
          errors++
          if (opts.maxErrors !== undefined && errors >= opts.maxErrors && !stoppedBecause) stoppedBecause = `${errors} hosts failed (--max-errors ${opts.maxErrors}); no new hosts were started`
        }
      }),
    )

  const canary = Math.min(opts.canary ?? 0, items.length)
  if (canary > 0) {
    await Promise.all(schedule(items.slice(0, canary)))
    const bad = items.slice(0, canary).filter((i) => results.get(i) !== 'ok').length
    if (bad > 0 && !stoppedBecause) stoppedBecause = `${bad} of the ${canary} canary hosts did not finish ok; the other hosts were not started`
    if (stoppedBecause) return {results, notStarted: [...notStarted, ...items.slice(canary)], stoppedBecause}
  }
  await Promise.all(schedule(items.slice(canary)))
  return {results, notStarted, stoppedBecause}
}
