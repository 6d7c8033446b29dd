/**
 * ETA from peers: how long each unfinished host still needs, and the room, from how long
 * each step took on the hosts that already did it. Pure: the store's rows in
 * (FleetStore.etaSteps, .etaOpenHosts, shaped by room-eta.ts), seconds out.
 *
 * The rules:
 * - A step's estimate is the median of its durations on the hosts that finished it ok in
 *   their current agent runs (same agent mode: an undo is not a run). Failed ends say
 *   nothing of how long the step takes, and skipped ends (check passed, `when` false,
 *   nothing to undo) took ~0 because the work was not done, so neither enters the median.
 * - Skipped steps: whether this host will skip a step too is only known when its check
 *   runs, so a step some peer ran ok counts at that median even if other peers skipped it
 *   (the room is then ready no sooner than said, rather than sooner). A step every peer
 *   that finished it skipped counts 0: the hosts of a room share an image, so this one
 *   most likely skips it as well.
 * - No peer has finished it (or only failed it): the step's timeout as the playbook
 *   declares it (step `timeout`, else `defaults.timeout`; fleet's built-in default is a
 *   guard, not an estimate), and when it declares none, the host's ETA is unknown (null),
 *   never a made-up figure.
 * - A running host: its steps not started yet, plus the running one at its estimate less
 *   the time it has run so far, never below RUNNING_FLOOR_S (a step past its median is not
 *   done yet; it still needs something). The elapsed time is the instructor's clock
 *   against the step-start record's timestamp, so a host's clock skew shifts it; the floor
 *   also keeps a host clock that runs ahead from giving a negative time.
 * - A host not started (pending, or its current agent run is an older one that ended):
 *   every step of the plan its peers in that mode have (the union of the steps of the
 *   room's current agent runs; a room runs one playbook), unknown while no host has one.
 * - The room: the slowest unfinished host; unknown when any of them is. A pending host is
 *   counted from now, as if it started at once: with --concurrency below the room's size it
 *   waits for a free slot first, so then the room's figure is a lower bound.
 */

/** The least a running step is still given, in seconds. */
export const RUNNING_FLOOR_S = 5

/** The median (the mean of the two middle values for an even count); undefined for none. */
export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** A step of the room's current agent runs in one mode: its ok durations (ms), and how many hosts skipped it. */
export interface PeerStep {
  mode: string
  step: string
  ok_ms: readonly number[]
  skipped: number
}

/** A host that is not finished. */
export interface EtaHost {
  id: number
  /** The agent mode it runs (or will run) in: run | undo. */
  mode: string
  /** Its fleet run's playbook (where declared timeouts come from), null when unknown. */
  playbook: string | null
  /** Whether its current agent run is under way; false: the whole plan is ahead of it. */
  started: boolean
  /** Steps of its run not started yet (when started). */
  pending: readonly string[]
  /** The step it is running, since when (epoch ms). */
  running: {step: string; since: number} | null
}

export interface EtaInput {
  /** Epoch ms. */
  now: number
  steps: readonly PeerStep[]
  hosts: readonly EtaHost[]
  /** Declared timeouts (s) by playbook path, then step id. A playbook absent here is wanted (see RoomEta.wanted); one that could not be loaded is an empty map. */
  timeouts?: ReadonlyMap<string, ReadonlyMap<string, number>>
}

export interface RoomEta {
  /** Seconds (rounded up) by host id, for the hosts given; null when unknown. */
  hosts: Map<number, number | null>
  /** The slowest host's; null when one is unknown or no host was given. */
  room_s: number | null
  /** Playbooks whose declared timeouts the estimate needed and were not given: load them and estimate again. */
  wanted: Set<string>
}

/** Every host's ETA and the room's. */
export function estimateRoom(input: EtaInput): RoomEta {
  // In ms throughout (whole numbers but for a median's half), seconds only at the end.
  const peers = new Map<string, number>() // `${mode} ${step}` -> ms
  const plans = new Map<string, string[]>()
  for (const p of input.steps) {
    const m = median(p.ok_ms)
    const key = `${p.mode} ${p.step}`
    if (m !== undefined) peers.set(key, m)
    else if (p.skipped > 0) peers.set(key, 0)
    let plan = plans.get(p.mode)
    if (!plan) plans.set(p.mode, (plan = []))
    plan.push(p.step)
  }
  const wanted = new Set<string>()
  /** A step's estimate in ms for this host; undefined when neither its peers nor its playbook say. */
  const estimate = (h: EtaHost, step: string): number | undefined => {
    const fromPeers = peers.get(`${h.mode} ${step}`)
    if (fromPeers !== undefined) return fromPeers
    if (h.playbook === null) return undefined
    const declared = input.timeouts?.get(h.playbook)
    if (!declared) wanted.add(h.playbook)
    const timeout = declared?.get(step)
    return timeout === undefined ? undefined : timeout * 1000
  }
  const hosts = new Map<number, number | null>()
  let room: number | null = 0
  for (const h of input.hosts) {
    const ahead = h.started ? h.pending : plans.get(h.mode)
    let total: number | null = ahead ? 0 : null
    for (const step of ahead ?? []) {
      const e = estimate(h, step)
      total = e === undefined || total === null ? null : total + e
    }
    if (h.started && h.running) {
      const e = estimate(h, h.running.step)
      const ran = Math.max(0, input.now - h.running.since)
      total = e === undefined || total === null ? null : total + Math.max(RUNNING_FLOOR_S * 1000, e - ran)
    }
    const s = total === null ? null : Math.ceil(total / 1000)
    hosts.set(h.id, s)
    room = s === null || room === null ? null : Math.max(room, s)
  }
  return {hosts, room_s: input.hosts.length ? room : null, wanted}
}
