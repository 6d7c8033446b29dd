import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import type {HostSpec} from '../inventory/index.js'
import {UserError} from '../errors/user-error.js'
import {HostEvents, ListenerFailure, type HostListener} from '../events/host-events.js'
import {countStates, isErrorState, isFinalState, type HostState} from '../events/host-state.js'
import type {StepSelection} from '../protocol/index.js'
import {FleetStore, isStoreFull, storeFullError, type RunRow} from '../store/store.js'
import {StoreWriter} from '../store/store-writer.js'
import {buildBundle, resolvePlaybook, type Bundle} from './bundle.js'
import {fanOut, parseMaxErrors} from './fan-out.js'
import {readHostsInput, resolveHosts, transportSettings, type HostsInput, type HostsRequest} from '../hosts/hosts-input.js'
import {hostsNamed} from '../hosts/select.js'
import {runHostSession, type VarsUpload} from './host-session.js'
import {layeredHostKeys, transportFor} from '../hosts/transports.js'
import {validateLocally, type LocalPlan} from './validate.js'
import {yamlReader} from '../playbook/yaml-lazy.js'

export interface FleetRunRequest extends HostsRequest {
  mode: 'run' | 'undo'
  knownHosts?: string
  db: string
  playbook: string
  vars?: string
  concurrency: number
  maxErrors?: string
  canary?: number
  /** `--only failed` or `--only NAME,...`: a subset of the hosts. */
  onlyHosts?: string
  /** Passed to the agent: --only (steps/phases), --from-step, --to-step. */
  steps?: string
  fromStep?: string
  toStep?: string
  /** Vars laid over the vars file's (the room cache's settings for a playbook, src/room-cache): what the hosts get is the merge. */
  varsOverlay?: Record<string, unknown>
  connectTimeoutMs?: number
  compress?: boolean
  runtime?: 'auto' | 'managed'
  runtimeMirror?: string
}

export interface FleetRunSummary {
  run: number
  hosts: number
  counts: Record<HostState, number>
  notStarted: string[]
  stoppedBecause?: string
  failed: Array<{name: string; state: HostState; error: string | null}>
}

/** Every input checked and the bundle built: what prepare, cleanup and their dry runs know before any host is contacted. */
export interface CheckedInputs {
  /** Undefined only for a dry run given neither --hosts nor --targets. */
  hostsInput?: HostsInput
  playbookPath: string
  steps: StepSelection
  plan: LocalPlan
  vars?: VarsUpload
  bundle: Bundle
}

/**
 * The local half of prepare/cleanup: the hosts file (optional for a dry run),
 * the playbook, vars and step names (by the agent's own dry run), and the
 * bundle of exactly the files the playbook uses. Contacts no host, writes nothing.
 */
export function checkInputs(req: FleetRunRequest, opts: {hostsOptional?: boolean} = {}): CheckedInputs {
  parseMaxErrors(req.maxErrors, 1) // its syntax now: a flag error changes nothing, not even fleet.db
  const hostsInput = opts.hostsOptional && !req.hostsFile && !req.targets ? undefined : readHostsInput(req)
  const playbookPath = resolvePlaybook(req.playbook)
  const steps: StepSelection = {only: req.steps, 'from-step': req.fromStep, 'to-step': req.toStep}
  const {plan, vars} = req.varsOverlay ? withOverlay(req, playbookPath, steps, req.varsOverlay) : {plan: validateLocally({mode: req.mode, playbook: playbookPath, vars: req.vars, steps}), vars: req.vars ? varsUpload(req.vars) : undefined}
  const bundle = buildBundle(playbookPath, plan.files, plan.compiled)
  return {hostsInput, playbookPath, steps, plan, vars, bundle}
}

/** Listeners of the run's host events besides the store writer (the terminal progress, ...), given the number of hosts. */
export type ListenersFor = (hosts: number) => HostListener[]

/**
 * `fleet prepare` and `fleet cleanup`: check every input first (hosts file,
 * playbook, vars, step names, the bundle), then drive every host at once and record it.
 */
export async function runFleet(req: FleetRunRequest, listeners?: ListenersFor): Promise<FleetRunSummary> {
  const checked = checkInputs(req)
  const hosts = await resolveHosts(req, checked.hostsInput!)
  return runChecked(req, checked, hosts, listeners)
}

/** The run on these hosts, its inputs checked already (checkInputs). */
export async function runChecked(req: FleetRunRequest, checked: CheckedInputs, hosts: HostSpec[], listeners?: ListenersFor): Promise<FleetRunSummary> {
  const store = FleetStore.open(req.db)
  try {
    return await driveHosts(req, checked, hosts, store, listeners)
  } catch (e) {
    if (isStoreFull(e instanceof ListenerFailure ? e.cause : e)) throw storeFullError(store.path)
    throw e
  } finally {
    store.close()
  }
}

/** The fan-out over the chosen hosts, recorded in the store as it goes. */
async function driveHosts(req: FleetRunRequest, checked: CheckedInputs, hosts: HostSpec[], store: FleetStore, listeners?: ListenersFor): Promise<FleetRunSummary> {
  const {playbookPath, steps, vars, bundle} = checked
  const hostsInput = checked.hostsInput!
  const chosen = selectHosts(hosts, req.onlyHosts, store)
  const maxErrors = parseMaxErrors(req.maxErrors, chosen.length)
  const kind = req.mode === 'undo' ? 'cleanup' : 'prepare'
  const runOptions = {steps: req.steps, fromStep: req.fromStep, toStep: req.toStep, onlyHosts: req.onlyHosts, bundle: bundle.hash, vars: req.vars && resolve(req.vars), ...(vars && req.varsOverlay ? {merged_vars: vars.hash} : {})}
  // The same command again after the last one was killed carries that run on: hosts it
  // finished stay finished, and the others are re-attached to their agents.
  const interrupted = store.interruptedRun(kind, playbookPath, hostsInput.label, runOptions)
  const run = interrupted?.id ?? store.startRun(kind, playbookPath, hostsInput.label, runOptions)
  const request = agentRequest(store.fleetRun(run)!)
  const ids = new Map<HostSpec, number>()
  const finished = new Set<HostSpec>()
  // One commit for the room's hosts, not one per host.
  store.writeTx(() => {
    for (const h of chosen) {
      const id = store.upsertHost({name: h.name, address: h.address, port: h.port, user: h.user, transport: h.transport})
      ids.set(h, id)
      const row = store.host(id)!
      if (interrupted && row.fleet_run === run && isFinalState(row.state) && row.state !== 'unreachable') finished.add(h)
      else store.claimHost(id, run)
    }
  })
  const settings = transportSettings(req, hostsInput, layeredHostKeys(store.hostKeys(), req.knownHosts))
  // A listener that fails (the store's disk full) ends the whole run at once, not host by host.
  let fatal: (e: unknown) => void = () => {}
  const stopped = new Promise<never>((_, reject) => (fatal = reject))
  stopped.catch(() => undefined) // raced below; a second failure later is not an unhandled one
  const events = new HostEvents(fatal)
  events.add(new StoreWriter(store, (e) => events.fail(e)))
  for (const l of listeners?.(chosen.length) ?? []) events.add(l)
  const result = await Promise.race([
    fanOut(
      chosen,
      async (h) => {
        const host = {id: ids.get(h)!, name: h.name}
        if (!finished.has(h)) return runHostSession(host, transportFor(h, settings), {mode: req.mode, bundle, vars, steps, request, events, store, runtime: req.runtime, runtimeMirror: req.runtimeMirror})
        const state = store.host(host.id)!.state
        events.emit({kind: 'done', host, state, note: 'finished before the last run was cut off'})
        return state
      },
      {concurrency: req.concurrency, maxErrors, canary: req.canary},
    ),
    stopped,
  ]).finally(() => events.close())
  const rows = chosen.map((h) => store.host(ids.get(h)!)!)
  const counts = countStates(rows.map((r) => r.state))
  const allOk = counts.ok === chosen.length
  store.endRun(run, allOk ? 'ok' : 'failed')
  return {
    run,
    hosts: chosen.length,
    counts,
    notStarted: result.notStarted.map((h) => h.name),
    stoppedBecause: result.stoppedBecause,
    failed: rows.filter((r) => r.state !== 'ok').map((r) => ({name: r.name, state: r.state, error: r.error})),
  }
}

/**
 * What every host's agent start of this fleet run is tagged with (`--request`): the
 * same command again after this one was cut off asks with it too, and a host whose
 * answer was lost (the database's disk full, fleet killed) is answered with the run
 * it began, ended or not, instead of a second one. The run's start time keeps it
 * apart from run N of another database.
 */
export function agentRequest(run: RunRow): string {
  return `fleet-${run.id}-${run.started_at.replace(/[^0-9]/g, '')}`
}

/**
 * The vars file as the hosts get it: its values as JSON (a JSON object is YAML too), which
 * the hosts' agents read without the YAML parser or the schemas; checked here already.
 */
function varsUpload(path: string): VarsUpload {
  return uploadOf(varsJson((yamlReader().parse(readFileSync(path, 'utf8')) as Record<string, unknown> | null) ?? {}))
}

const varsJson = (vars: Record<string, unknown>) => Buffer.from(JSON.stringify(vars) + '\n')

function uploadOf(data: Buffer): VarsUpload {
  return {data, hash: createHash('sha256').update(data).digest('hex').slice(0, 16)}
}

/**
 * The vars file's vars with the overlay laid over them, checked by the agent's dry run like
 * any vars file (in a private temporary file, removed at once: it may hold secrets).
 */
function withOverlay(req: FleetRunRequest, playbook: string, steps: StepSelection, overlay: Record<string, unknown>): {plan: LocalPlan; vars: VarsUpload} {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-vars-'))
  try {
    const base = req.vars ? (yamlReader().parse(readFileSync(req.vars, 'utf8')) as Record<string, unknown> | null) : null
    const data = varsJson({...(base ?? {}), ...overlay})
    const file = join(dir, 'vars.yaml')
    writeFileSync(file, data, {mode: 0o600})
    return {plan: validateLocally({mode: req.mode, playbook, vars: file, steps}), vars: uploadOf(data)}
  } catch (e) {
    // A mistake in the vars file gets the agent's sentence with the file's own line (one dry run more, only then).
    if (req.vars) validateLocally({mode: req.mode, playbook, vars: req.vars, steps})
    throw e
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

/** `--only failed` (hosts not ok in the last run; needs the store) or `--only NAME,...`. */
export function selectHosts(hosts: HostSpec[], only: string | undefined, store?: FleetStore): HostSpec[] {
  if (!only) return hosts
  if (only === 'failed') {
    if (!store) throw new Error('--only failed needs the database')
    const bad = new Set(store.hosts().filter((h) => isErrorState(h.state)).map((h) => h.name))
    const chosen = hosts.filter((h) => bad.has(h.name))
    if (!chosen.length) throw new UserError(`--only failed: no host of ${store.path} is failed or unreachable; nothing to do.`)
    return chosen
  }
  return hostsNamed(hosts, only, '--only', 'in the hosts file')
}
