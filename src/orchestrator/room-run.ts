import type {HostSpec} from '../inventory/index.js'
import {UserError} from '../errors/user-error.js'
import {countStates, type HostState} from '../events/host-state.js'
import {resolveHosts} from '../hosts/hosts-input.js'
import {cacheEndpoint, readCacheVars} from '../room-cache/cache-vars.js'
import {planRoomCache, PYPI_DEFAULTS, type CachePlan} from '../room-cache/plan.js'
import {resolvePlaybook} from './bundle.js'
import {checkInputs, runChecked, type CheckedInputs, type FleetRunRequest, type FleetRunSummary, type ListenersFor} from './fleet-run.js'

/*
 * `fleet prepare` / `fleet cleanup` of a room whose hosts file names a cache host (role=cache):
 *   prepare: the cache host first (playbooks/cache.yaml: its servers, then warmed with the
 *   playbook's artifacts), then every other host pointed at it (playbooks/cache-client.yaml),
 *   then the room's playbook on those hosts, its artifact URLs through the cache;
 *   cleanup: the same in reverse (the cache itself kept with --keep-cache).
 * Each is a fleet run of its own in the database. Without a cache host, the one run as before.
 */

export interface RoomRequest extends FleetRunRequest {
  /** Settings of the room cache's playbooks (readCacheVars). */
  cacheVars?: string
  /** cleanup: leave the cache host as it is. */
  keepCache?: boolean
  /** `fleet cache warm`: fetch every mirror and artifact again, however fresh. */
  rewarm?: boolean
}

export interface RoomSummary extends FleetRunSummary {
  /** The cache host's part, when the room has one. */
  cache?: {name: string; address: string; state: HostState; error: string | null}
}

export const CACHE_PLAYBOOK = 'cache'
export const CLIENT_PLAYBOOK = 'cache-client'

/** The room's cache host (role=cache), when the hosts name one. */
export const cacheHostOf = (hosts: readonly HostSpec[]): HostSpec | undefined => hosts.find((h) => h.role === 'cache')

/** What a command that needs the room's cache host says when the hosts name none. */
export const noCacheHost = (label: string): UserError => new UserError(`${label} names no cache host: mark one with role=cache (fleet_role=cache in an Ansible inventory).`)

export async function runRoom(req: RoomRequest, listeners?: ListenersFor): Promise<RoomSummary> {
  const checked = checkInputs(req)
  const hosts = await resolveHosts(req, checked.hostsInput!)
  const cacheHost = cacheHostOf(hosts)
  if (!cacheHost) {
    if (req.rewarm) throw noCacheHost(checked.hostsInput!.label)
    if (req.cacheVars) throw new UserError(`--cache-vars: ${checked.hostsInput!.label} names no cache host (role=cache), so there is no room cache to give them to.`)
    return runChecked(req, checked, hosts, listeners)
  }
  const others = hosts.filter((h) => h !== cacheHost)
  const room = roomCacheInputs(req, checked, cacheHost)
  return req.mode === 'run' ? prepareRoom(req, room, cacheHost, others, listeners) : cleanupRoom(req, room, cacheHost, others, listeners)
}

interface RoomInputs {
  cache: CheckedInputs
  cacheReq: FleetRunRequest
  client: CheckedInputs
  clientReq: FleetRunRequest
  main: CheckedInputs
  mainReq: FleetRunRequest
}

/** Every playbook of the room checked, with its vars, before any host is contacted. */
function roomCacheInputs(req: RoomRequest, checked: CheckedInputs, cacheHost: HostSpec): RoomInputs {
  const cachePath = resolvePlaybook(CACHE_PLAYBOOK)
  const clientPath = resolvePlaybook(CLIENT_PLAYBOOK)
  const vars = readCacheVars(req.cacheVars, cachePath, clientPath)
  const endpoint = cacheEndpoint(cacheHost.address, vars, cachePath)
  const upstream = {index: String(vars.cache.pypi_upstream ?? PYPI_DEFAULTS.index), files: String(vars.cache.pythonhosted_upstream ?? PYPI_DEFAULTS.files)}
  let plan: CachePlan
  try {
    plan = planRoomCache(checked.plan.artifacts, endpoint, upstream)
  } catch (e) {
    throw new UserError(`${checked.playbookPath}: ${(e as Error).message}.`)
  }
  // The cache's own steps, not the room's selection: --steps and --from-step are the room playbook's.
  const own = {steps: undefined, fromStep: undefined, toStep: undefined, canary: undefined, maxErrors: undefined, onlyHosts: undefined, vars: undefined}
  const rewarm = req.rewarm ? {http_warm_max_age_min: 0, git_warm_max_age_min: 0} : {}
  const cacheReq: FleetRunRequest = {...req, ...own, playbook: cachePath, varsOverlay: {...vars.cache, ...plan.cacheVars, ...rewarm}, ...(req.rewarm ? {steps: 'git-warm,warm'} : {})}
  const clientReq: FleetRunRequest = {...req, ...own, onlyHosts: req.onlyHosts, playbook: clientPath, varsOverlay: {...vars.client, ...plan.clientVars}}
  const mainReq: FleetRunRequest = {...req, varsOverlay: plan.overlay}
  return {cacheReq, cache: checkInputs(cacheReq), clientReq, client: checkInputs(clientReq), mainReq, main: checkInputs(mainReq)}
}

async function prepareRoom(req: RoomRequest, room: RoomInputs, cacheHost: HostSpec, others: HostSpec[], listeners?: ListenersFor): Promise<RoomSummary> {
  const cached = await runChecked(room.cacheReq, room.cache, [cacheHost], listeners)
  const cache = cacheState(cached, cacheHost)
  if (cache.state !== 'ok') {
    return {
      ...cached,
      cache,
      hosts: others.length + 1,
      counts: {...cached.counts, pending: cached.counts.pending + others.length},
      notStarted: others.map((h) => h.name),
      stoppedBecause: `the room cache ${cacheHost.name} is not ready, so no other host was started (fix it and run the same command again, or prepare without it: take role=cache off its line)`,
    }
  }
  if (req.rewarm) return {...cached, cache}
  const pointed = await runChecked(room.clientReq, room.client, others, listeners)
  const mainHosts = endedOk(others, pointed)
  const main = await runChecked(room.mainReq, room.main, mainHosts, listeners)
  return combine(main, [{hosts: [cacheHost], summary: cached}, {hosts: others, summary: pointed}, {hosts: mainHosts, summary: main}], cache)
}

async function cleanupRoom(req: RoomRequest, room: RoomInputs, cacheHost: HostSpec, others: HostSpec[], listeners?: ListenersFor): Promise<RoomSummary> {
  const main = await runChecked(room.mainReq, room.main, others, listeners)
  // A host whose playbook could not be undone keeps its cache settings: its next attempt fetches through the cache too.
  const undone = endedOk(others, main)
  const unpointed = await runChecked(room.clientReq, room.client, undone, listeners)
  const parts = [{hosts: others, summary: main}, {hosts: undone, summary: unpointed}]
  if (req.keepCache) return combine(main, parts)
  const cached = await runChecked(room.cacheReq, room.cache, [cacheHost], listeners)
  return combine(main, [...parts, {hosts: [cacheHost], summary: cached}], cacheState(cached, cacheHost))
}

/** The hosts of a run that ended ok: neither failed nor left unstarted. */
function endedOk(hosts: HostSpec[], s: FleetRunSummary): HostSpec[] {
  return hosts.filter((h) => !s.failed.some((f) => f.name === h.name) && !s.notStarted.includes(h.name))
}

function cacheState(s: FleetRunSummary, h: HostSpec): NonNullable<RoomSummary['cache']> {
  const failed = s.failed.find((f) => f.name === h.name)
  return {name: h.name, address: h.address, state: failed?.state ?? 'ok', error: failed?.error ?? null}
}

/** One run of the room's: on which hosts, and how it went. */
interface Part {
  hosts: HostSpec[]
  summary: FleetRunSummary
}

/**
 * One summary of the room, the main run's with every host at its last state: a host a later
 * run took on (or failed) counts as that run left it; the cache host is counted in.
 */
function combine(main: FleetRunSummary, parts: Part[], cache?: RoomSummary['cache']): RoomSummary {
  const last = new Map<string, {state: HostState | 'not-started'; error: string | null}>()
  for (const {hosts, summary} of parts) {
    for (const h of hosts) {
      const failed = summary.failed.find((f) => f.name === h.name)
      last.set(h.name, summary.notStarted.includes(h.name) ? {state: 'not-started', error: null} : failed ? {state: failed.state, error: failed.error} : {state: 'ok', error: null})
    }
  }
  const entries = [...last.entries()]
  const notStarted = entries.filter(([, v]) => v.state === 'not-started').map(([n]) => n)
  const started = entries.filter(([, v]) => v.state !== 'not-started') as Array<[string, {state: HostState; error: string | null}]>
  return {
    ...main,
    hosts: last.size,
    counts: countStates([...started.map(([, v]) => v.state), ...notStarted.map((): HostState => 'pending')]),
    notStarted,
    failed: started.filter(([, v]) => v.state !== 'ok').map(([name, v]) => ({name, state: v.state, error: v.error})),
    stoppedBecause: parts.map((p) => p.summary.stoppedBecause).find(Boolean),
    cache,
  }
}
