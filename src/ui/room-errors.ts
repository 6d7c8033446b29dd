import {isErrorState} from '../events/host-state.js'
import type {FleetStore, HostRow} from '../store/store.js'
import {groupErrors, isGenericError, type ErrorGroup, type HostFailure} from './error-signature.js'

/** How many of a failed step's last log lines stand by a generic error line. */
export const FAILURE_TAIL_LINES = 5

/** A failed step's last log lines (the host row has the agent run). */
export type TailReader = (h: HostRow, step: string) => string[]

/** The store's log tails: one indexed read of a few lines per host that needs one. */
export function storeTails(store: Pick<FleetStore, 'logTail'>, lines = FAILURE_TAIL_LINES): TailReader {
  return (h, step) => (h.agent_run ? store.logTail(h.id, h.agent_run, step, lines).split('\n') : [])
}

/**
 * The step a failed host failed in: its last started step, when the error is that step's
 * (a run's error is `STEP: error`). A host that failed before its agent ran a step (no space,
 * no bundle), and an unreachable one, has none: the host is at fault, not a step.
 */
export function failedStep(h: HostRow): string | null {
  return h.state === 'failed' && h.step_id && h.error?.startsWith(`${h.step_id}: `) ? h.step_id : null
}

/**
 * Every failed and unreachable host as a HostFailure. The log tail is read only for a failed
 * step whose error line is generic (`exit code 1`): the rest carry their signature in the
 * line, so a room of 1,000 failed hosts costs no log reads for them.
 */
export function hostFailures(rows: readonly HostRow[], tail?: TailReader): HostFailure[] {
  const out: HostFailure[] = []
  for (const h of rows) {
    if (!isErrorState(h.state)) continue
    const error = h.error ?? ''
    const step = failedStep(h)
    const f: HostFailure = {host: h.name, step, error, state: h.state}
    if (tail && step && isGenericError(error, step)) f.tail = tail(h, step)
    out.push(f)
  }
  return out
}

/** The room's error groups: failed and unreachable hosts by (state, step, signature), most hosts first. */
export function roomErrorGroups(rows: readonly HostRow[], tail?: TailReader): ErrorGroup[] {
  // Every host's name normalises (an error may name a peer), and so does an address that is a name.
  const names = rows.flatMap((h) => [h.name, h.address])
  return groupErrors(hostFailures(rows, tail), {hosts: names})
}
