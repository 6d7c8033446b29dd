import {readFileSync} from 'node:fs'
import {UserError} from '../errors/user-error.js'
import {yamlReader} from '../playbook/yaml-lazy.js'
import type {CacheEndpoint} from './plan.js'

/*
 * `--cache-vars FILE`: one YAML file of settings for the room cache's two playbooks
 * (playbooks/cache.yaml on the cache host, playbooks/cache-client.yaml on the others).
 * Each var goes to the playbook that declares it; one neither declares is refused with
 * its line. The cache's ports, which fleet needs to point the hosts at it, are read from
 * this file or else from cache.yaml's own defaults.
 */

/** A playbook's declared vars and their plain default values (a `{value: ...}` map gives its value). */
export function declaredVars(playbookPath: string): Map<string, unknown> {
  const doc = yamlReader().parseDocument(readFileSync(playbookPath, 'utf8'))
  const vars = (doc.toJS() as {vars?: Record<string, unknown>} | null)?.vars ?? {}
  return new Map(Object.entries(vars).map(([k, v]) => [k, v !== null && typeof v === 'object' && !Array.isArray(v) && 'value' in v ? (v as {value: unknown}).value : v]))
}

/** Vars fleet fills in from the hosts file and the playbook (src/room-cache/plan.ts) or that name the playbooks' own folders. */
const FLEET_GIVES = new Set(['cache_address', 'http_upstreams', 'git_repos', 'warm_urls', 'pypi_index', 'git_rewrites', 'files_dir'])

export interface CacheVars {
  cache: Record<string, unknown>
  client: Record<string, unknown>
}

/** Split the file by which playbook declares each var (both may: ports are the cache's and the client's). */
export function readCacheVars(path: string | undefined, cachePlaybook: string, clientPlaybook: string): CacheVars {
  const out: CacheVars = {cache: {}, client: {}}
  if (!path) return out
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new UserError(`${path}: cannot read the cache vars file (${(e as NodeJS.ErrnoException).code ?? String(e)}).`)
  }
  const {LineCounter, parseDocument, isMap, isScalar} = yamlReader()
  const lines = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lines})
  if (doc.errors.length) {
    const err = doc.errors[0]!
    throw new UserError(`${path}:${err.linePos?.[0]?.line ?? 1}: not valid YAML (${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}).`)
  }
  if (doc.contents === null) return out
  if (!isMap(doc.contents)) throw new UserError(`${path}:1: the cache vars file must be a map of var names to values.`)
  const cache = declaredVars(cachePlaybook)
  const client = declaredVars(clientPlaybook)
  const values = doc.toJS() as Record<string, unknown>
  for (const pair of doc.contents.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
    const value = values[name]
    const line = isScalar(pair.key) && pair.key.range ? lines.linePos(pair.key.range[0]).line : 1
    if (FLEET_GIVES.has(name)) throw new UserError(`${path}:${line}: field "${name}": fleet prepare gives this var itself (from the hosts file and the playbook's artifacts); leave it out.`)
    if (!cache.has(name) && !client.has(name)) {
      throw new UserError(`${path}:${line}: field "${name}": neither room cache playbook has a var of that name (cache host: ${[...cache.keys()].join(', ')}; other hosts: ${[...client.keys()].join(', ')}).`)
    }
    if (cache.has(name)) out.cache[name] = value
    if (client.has(name)) out.client[name] = value
  }
  return out
}

function port(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UserError(`--cache-vars: field "${name}": ${JSON.stringify(v)} is not a port (1-65535).`)
  return n
}

/** Where the cache host's servers listen: its address as the hosts reach it, its ports as configured. */
export function cacheEndpoint(address: string, vars: CacheVars, cachePlaybook: string): CacheEndpoint {
  const defaults = declaredVars(cachePlaybook)
  const get = (name: string, fallback: number) => port(name, vars.cache[name] ?? defaults.get(name), fallback)
  return {address, aptPort: get('apt_port', 3142), httpPort: get('http_port', 80), gitPort: get('git_port', 9418)}
}
