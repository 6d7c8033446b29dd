import {existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, dirname, join, posix, resolve} from 'node:path'
import PQueue from 'p-queue'
import {create as createTar} from 'tar'
import {cannotMakeReason} from '../errors/fs-reason.js'
import {UserError} from '../errors/user-error.js'
import type {HostSpec} from '../inventory/index.js'
import {readHostsInput, resolveHosts, transportSettings, type HostsRequest} from '../hosts/hosts-input.js'
import {hostsNamed} from '../hosts/select.js'
import {layeredHostKeys, transportFor} from '../hosts/transports.js'
import {bundledPlaybook, parseLogsAnswer, type LogsAnswer} from '../protocol/index.js'
import {runLocalAgent} from '../remote-agent/local-agent.js'
import {nodeOnHost, parseProbe, probeScript} from '../remote-agent/probe.js'
import {agentCommand, firstErrorLine} from '../remote-agent/shell-commands.js'
import {FleetStore, type RunRow} from '../store/store.js'
import {TransportError, type Transport} from '../transport/types.js'
import {countFiles, type Refused} from './extract.js'
import {fetchArchive} from './fetch.js'
import {parseTarStderr, tarCommand} from './remote-tar.js'

export interface CollectRequest extends HostsRequest {
  knownHosts?: string
  db: string
  /** The folder to fill, one sub-folder per host [default: ./fleet-logs/TIMESTAMP]. */
  out?: string
  /** `--host NAME,...`: only these hosts of the hosts file. */
  hosts?: string
  /** Also write OUT.tar.gz of the whole folder. */
  tar?: boolean
  concurrency: number
  connectTimeoutMs?: number
  compress?: boolean
  /** The vars file whose secrets to redact [default: the one the last run used]. */
  vars?: string
}

export interface HostLogs {
  name: string
  /** Every log of the host was fetched (declared paths that do not exist on it do not count against this). */
  ok: boolean
  /** Regular files in the host's folder, and their bytes. */
  files: number
  bytes: number
  error?: string
  /** Declared log paths that are not on the host. */
  missing?: string[]
  /** Archive entries not extracted: unsafe names, links or types. */
  refused?: Refused[]
  /** tar's warnings on the host (a file that could not be read, or changed while read). */
  warnings?: string[]
}

export interface CollectSummary {
  /** The folder, absolute. */
  out: string
  /** OUT.tar.gz, with --tar. */
  tar?: string
  /** The fleet run whose bundle was asked for the log paths. */
  run: number
  hosts: HostLogs[]
}

/** Where the last fleet run's bundle is on every host, and its playbook inside it. */
interface LastRun {
  id: number
  bundle: string
  /** The playbook inside the bundle on the host. */
  playbook: string
  /** The same playbook here, and the vars file the run used: what the collected files are redacted with. */
  localPlaybook: string
  vars?: string
}

const QUERY_TIMEOUT_MS = 60_000
const MAX_LISTED = 20

/**
 * `fleet collect-logs`: bring every host's logs home, one folder per host, in
 * parallel over one connection per host (SSH, or Systems Manager commands).
 * The agent of the last fleet run says where its state dir is and renders the
 * playbook's `logs:`; each tree
 * comes back as a tar.gz stream and is extracted so that nothing a host sends
 * can land outside that host's folder.
 */
export async function collectLogs(req: CollectRequest, onHost?: (h: HostLogs) => void): Promise<CollectSummary> {
  const input = readHostsInput(req)
  if (!existsSync(req.db)) throw new UserError(`${req.db}: no fleet database here; run "fleet prepare --hosts FILE" first (or give --db).`)
  const out = resolve(req.out ?? join('fleet-logs', timestamp()))
  const chosen = selectHosts(await resolveHosts(req, input), req.hosts)
  const taken = chosen.filter((h) => existsSync(join(out, h.name))).map((h) => h.name)
  if (taken.length) throw new UserError(`--out: ${out} already has a folder for ${taken.slice(0, 5).join(', ')}${taken.length > 5 ? ', ...' : ''}; give another --out.`)
  const archive = req.tar ? `${out}.tar.gz` : undefined
  if (archive && existsSync(archive)) throw new UserError(`--tar: ${archive} exists already; give another --out.`)

  const store = FleetStore.open(req.db)
  try {
    const run = lastRun(store)
    const vars = req.vars ?? run.vars
    // The redaction's playbook and vars are checked before any host is reached: found broken
    // after the logs came home, the logs would stay there with the secrets in them.
    const probe = mkdtempSync(join(tmpdir(), 'fleet-redact-check-'))
    let refused: string | undefined
    try {
      refused = redactLocally(run, vars, probe)
    } finally {
      rmSync(probe, {recursive: true, force: true})
    }
    if (refused) throw new UserError(`the collected logs could not be cleaned of the playbook's secrets, so no host was asked for them: ${refused}`)
    try {
      mkdirSync(out, {recursive: true, mode: 0o700})
    } catch (e) {
      throw new UserError(`--out: ${out} cannot be made (${cannotMakeReason(e) ?? (e as NodeJS.ErrnoException).code}); give another --out.`)
    }
    const settings = transportSettings(req, input, layeredHostKeys(store.hostKeys(), req.knownHosts))
    const queue = new PQueue({concurrency: Math.max(1, req.concurrency)})
    const results = await Promise.all(
      chosen.map((h) =>
        queue.add(async () => {
          const r = await collectHost(h.name, transportFor(h, settings), run, join(out, h.name))
          onHost?.(r)
          return r
        }),
      ),
    )
    // Declared log files come home as they were on the host; the secrets come out here, before anyone reads them.
    const failed = redactLocally(run, vars, out)
    if (failed) throw new UserError(`could not clean the collected logs in ${out} of the playbook's secrets: ${failed}`)
    if (archive) await writeArchive(out, archive)
    return {out, tar: archive, run: run.id, hosts: results}
  } finally {
    store.close()
  }
}

function selectHosts(hosts: HostSpec[], only: string | undefined): HostSpec[] {
  return only ? hostsNamed(hosts, only, '--host', 'among the hosts') : hosts
}

function lastRun(store: FleetStore): LastRun {
  const row: RunRow | undefined = store.lastRun()
  if (!row) throw new UserError(`${store.path}: no fleet run is recorded; run "fleet prepare --hosts FILE" first.`)
  let options: {bundle?: unknown; vars?: unknown} = {}
  try {
    options = JSON.parse(row.options) as typeof options
  } catch {
    // handled below as "does not record its bundle"
  }
  const bundle = options.bundle
  if (typeof bundle !== 'string' || !/^[0-9a-f]+$/.test(bundle)) throw new UserError(`${store.path}: the last fleet run (${row.id}) does not record its bundle; run "fleet prepare" again.`)
  if (!existsSync(row.playbook)) throw new UserError(`${row.playbook}: the playbook of the last fleet run is gone from here, so the collected logs could not be cleaned of its secrets; put it back or run "fleet prepare" again.`)
  return {id: row.id, bundle, playbook: bundledPlaybook(bundle, `playbooks/${basename(row.playbook)}`), localPlaybook: row.playbook, vars: typeof options.vars === 'string' ? options.vars : undefined}
}

/** 20261124T101500Z: sorts by time, no characters a shell or another OS minds. */
function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
}

async function collectHost(name: string, t: Transport, run: LastRun, dir: string): Promise<HostLogs> {
  const res: HostLogs = {name, ok: false, files: 0, bytes: 0}
  const problems: string[] = []
  try {
    await t.connect()
    const probe = parseProbe((await t.exec(probeScript(run.bundle), {timeoutMs: QUERY_TIMEOUT_MS})).stdout)
    const node = nodeOnHost(probe)
    if (!node) throw new Error('no Node.js 18+ on the host to ask the agent where its logs are')
    if (!probe.bundlePresent) throw new Error(`fleet's bundle ${run.bundle} (of fleet run ${run.id}) is not on the host, so there is no agent to ask where its logs are; run "fleet prepare" for this host first`)
    const answer = await askAgent(t, node, run)
    if (answer.error) problems.push(`the playbook's log paths: ${answer.error}`)
    await fetchTree(t, answer.state_dir, ['.'], false, join(dir, 'agent'), res)
    const declared = answer.paths.map((p) => p.replace(/^\/+/, '') || '.')
    if (declared.length) await fetchTree(t, '/', declared, true, join(dir, 'files'), res)
  } catch (e) {
    const message = (e as Error).message
    // Transport errors start with the host's label; the report names the host already.
    problems.push(e instanceof TransportError && message.startsWith(`${name}: `) ? message.slice(name.length + 2) : message)
  } finally {
    await t.close().catch(() => undefined)
  }
  Object.assign(res, countFiles(dir))
  if (existsSync(dir) && res.files === 0 && isEmptyTree(dir)) rmSync(dir, {recursive: true, force: true})
  if (problems.length) res.error = problems.join('; ')
  res.ok = problems.length === 0
  if (res.refused?.length) res.refused = res.refused.slice(0, MAX_LISTED)
  if (res.warnings?.length) res.warnings = res.warnings.slice(0, MAX_LISTED)
  return res
}

/** `agent logs --json` of the last run's bundle: the state dir and the declared log paths, rendered on the host. */
async function askAgent(t: Transport, node: string, run: LastRun): Promise<LogsAnswer> {
  const r = await t.exec(agentCommand(node, run.bundle, 'logs', {playbook: run.playbook, json: true}), {timeoutMs: QUERY_TIMEOUT_MS})
  const answer = parseLogsAnswer(r.stdout)
  if (!answer) {
    const old = /command logs not found/i.test(r.stderr) ? ' (the agent of this bundle is older than "agent logs"; run "fleet prepare" again to ship a newer one)' : ''
    throw new Error(`the agent did not say where its logs are: ${firstErrorLine(r.stderr) || `exit code ${r.code}`}${old}`)
  }
  return answer
}

/** A tar.gz of `paths` under `base` from the host, extracted into `dest`; what is missing, refused or warned about goes into `res`. */
async function fetchTree(t: Transport, base: string, paths: string[], sudo: boolean, dest: string, res: HostLogs): Promise<void> {
  // GNU tar: 1 means some file changed while it was read (a log being written): still an archive.
  const {result, refused} = await fetchArchive(t, tarCommand(base, paths, {sudo}), dest, (code) => code === 0 || code === 1)
  const {missing, warnings} = parseTarStderr(result.stderr)
  if (missing.length) res.missing = [...(res.missing ?? []), ...missing.map((p) => (p.startsWith('/') ? p : posix.join(base, p)))]
  if (warnings.length) res.warnings = [...(res.warnings ?? []), ...warnings]
  if (refused.length) res.refused = [...(res.refused ?? []), ...refused]
  if (result.code !== 0 && result.code !== 1) throw new Error(`tar on the host failed (exit ${result.code ?? result.signal}): ${warnings[0] ?? 'no message'}`)
}

/** `agent redact` here, with the run's playbook and vars (the agent's own code knows which vars are secret); what went wrong, if anything. */
function redactLocally(run: LastRun, vars: string | undefined, out: string): string | undefined {
  const r = runLocalAgent('redact', {playbook: run.localPlaybook, vars, json: true}, [out])
  return r.status === 0 ? undefined : firstErrorLine(r.stderr) || `exit code ${r.status}`
}

function isEmptyTree(dir: string): boolean {
  return readdirSync(dir, {withFileTypes: true}).every((d) => d.isDirectory() && isEmptyTree(join(dir, d.name)))
}

/** OUT.tar.gz beside OUT, its entries under OUT's own name. */
async function writeArchive(out: string, archive: string): Promise<void> {
  const part = `${archive}.part`
  try {
    await createTar({gzip: true, file: part, cwd: dirname(out), portable: true}, [basename(out)])
    renameSync(part, archive)
  } finally {
    rmSync(part, {force: true})
  }
}
