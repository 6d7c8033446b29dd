import {UserError} from '../errors/user-error.js'
import {readHostsInput, resolveHosts, transportSettings, type HostsRequest} from '../hosts/hosts-input.js'
import {layeredHostKeys, transportFor} from '../hosts/transports.js'
import {firstErrorLine} from '../remote-agent/shell-commands.js'
import {declaredVars, readCacheVars} from '../room-cache/cache-vars.js'
import {isFull, parseFigures, statsCommand, type CacheFigures} from '../room-cache/status.js'
import {FleetStore} from '../store/store.js'
import {TransportError} from '../transport/types.js'
import {resolvePlaybook} from './bundle.js'
import {CACHE_PLAYBOOK, cacheHostOf, CLIENT_PLAYBOOK, noCacheHost} from './room-run.js'

export interface CacheStatusRequest extends HostsRequest {
  db: string
  knownHosts?: string
  cacheVars?: string
  connectTimeoutMs?: number
}

export interface CacheStatus {
  host: string
  address: string
  figures: CacheFigures
  /** Each cache whose file system has less than FULL_BELOW of it free: it takes no new objects. */
  full: {apt: boolean; http: boolean}
}

/** `fleet cache status`: the cache host of the hosts file, asked for its figures over its transport. */
export async function cacheStatus(req: CacheStatusRequest): Promise<CacheStatus> {
  const input = readHostsInput(req)
  const hosts = await resolveHosts(req, input)
  const cache = cacheHostOf(hosts)
  if (!cache) throw noCacheHost(input.label)
  const cachePath = resolvePlaybook(CACHE_PLAYBOOK)
  const vars = readCacheVars(req.cacheVars, cachePath, resolvePlaybook(CLIENT_PLAYBOOK))
  const defaults = declaredVars(cachePath)
  const workDir = String(vars.cache.work_dir ?? defaults.get('work_dir'))
  const store = FleetStore.open(req.db)
  const t = transportFor(cache, transportSettings({...req, connectTimeoutMs: req.connectTimeoutMs ?? 15_000}, input, layeredHostKeys(store.hostKeys(), req.knownHosts)))
  try {
    let stdout: string
    try {
      await t.connect()
      const {command, stdin} = statsCommand(workDir)
      const r = await t.exec(command, {stdin, timeoutMs: 60_000})
      if (r.code !== 0) throw new UserError(`${cache.name}: could not read the cache's figures: ${firstErrorLine(r.stderr) || `exit code ${r.code}`}.`, 1)
      stdout = r.stdout
    } catch (e) {
      // The cache host down or unreachable: one sentence, as for any host.
      if (e instanceof TransportError) throw new UserError(`${cache.name}: the cache host cannot be reached: ${e.message}`, 1)
      throw e
    }
    let figures: CacheFigures
    try {
      figures = parseFigures(stdout)
    } catch (e) {
      throw new UserError(`${cache.name}: the cache's figures could not be read (${(e as Error).message.split('\n')[0]}); is it prepared (fleet prepare with role=cache)?`, 1)
    }
    return {host: cache.name, address: cache.address, figures, full: {apt: isFull(figures.disk.apt), http: isFull(figures.disk.http)}}
  } finally {
    await t.close().catch(() => undefined)
    store.close()
  }
}
