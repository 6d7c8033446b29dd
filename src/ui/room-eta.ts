import type {EtaOpenHostRow, FleetStore} from '../store/store.js'
import {estimateRoom, type EtaHost, type RoomEta} from './eta.js'

/**
 * Declared step timeouts by playbook path, read once per `fleet status` (and kept across
 * --watch refreshes); an empty map for a playbook that could not be read.
 */
export type TimeoutCache = Map<string, ReadonlyMap<string, number>>

/**
 * The room's ETA (src/ui/eta.ts) from the store: two reads of it, and the playbook only
 * when some step ahead has no peer that finished it (its module is loaded then, not on
 * every `fleet status`).
 */
export async function roomEta(store: FleetStore, now: number, cache: TimeoutCache): Promise<RoomEta> {
  const hosts = etaHosts(store.etaOpenHosts())
  // A finished room reads no steps (the per-step read is most of the cost).
  const input = {now, steps: hosts.length ? store.etaSteps() : [], hosts, timeouts: cache}
  let eta = estimateRoom(input)
  if (eta.wanted.size) {
    const {declaredTimeouts} = await import('../playbook/load.js')
    for (const path of eta.wanted) {
      try {
        cache.set(path, declaredTimeouts(path))
      } catch {
        // Gone, unreadable or no longer valid: no fallback from it, and the ETA of a host
        // that needed one says unknown; `fleet status` itself must not fail over it.
        cache.set(path, new Map())
      }
    }
    eta = estimateRoom(input)
  }
  return eta
}

/**
 * The hosts that will still do something: pending, connecting or running in a fleet run
 * that has not ended (a run stopped by --max-errors leaves hosts pending that will not run).
 * Started: the host's current agent run has records stored and has not ended; otherwise the
 * run it shows is an earlier one (or none) and its whole plan is ahead of it.
 */
export function etaHosts(rows: readonly EtaOpenHostRow[]): EtaHost[] {
  const out: EtaHost[] = []
  for (const r of rows) {
    if (r.run_kind === null || r.run_ended_at !== null) continue
    const started = r.agent_run_ended === 0
    const since = r.running_since === null ? Number.NaN : Date.parse(r.running_since)
    out.push({
      id: r.host_id,
      mode: started && r.agent_mode ? r.agent_mode : r.run_kind === 'cleanup' ? 'undo' : 'run',
      playbook: r.playbook,
      started,
      pending: started ? r.pending : [],
      running: started && r.running_step !== null ? {step: r.running_step, since: Number.isNaN(since) ? Number.POSITIVE_INFINITY : since} : null,
    })
  }
  return out
}
