/**
 * Where a host is in a fleet run, from the instructor's side: the one definition
 * the orchestrator, the store, the terminal and the dashboard share.
 */
export type HostState = 'pending' | 'connecting' | 'running' | 'ok' | 'failed' | 'unreachable'

/** In the order a host goes through them (and tables list them). */
export const HOST_STATES: readonly HostState[] = ['pending', 'connecting', 'running', 'ok', 'failed', 'unreachable']

/** The host's part of the run is over: nothing more will happen to it until the next run. */
export function isFinalState(state: HostState): boolean {
  return state === 'ok' || state === 'failed' || state === 'unreachable'
}

/** Counted against --max-errors and retried by `--only failed`: failed, or not reached at all. */
export function isErrorState(state: HostState): state is 'failed' | 'unreachable' {
  return state === 'failed' || state === 'unreachable'
}

/** Each state with how many hosts are in it (every state present, zeros included). */
export function countStates(states: Iterable<HostState>): Record<HostState, number> {
  const counts = Object.fromEntries(HOST_STATES.map((s) => [s, 0])) as Record<HostState, number>
  for (const s of states) counts[s]++
  return counts
}
