import type {PlanAnswerArtifact} from '../protocol/index.js'

/*
 * What a room cache is for one playbook: from the playbook's `artifacts:` (their URLs as
 * its dry run rendered them), which upstreams the cache's nginx proxies, which repositories
 * it mirrors, what it warms, and the vars that point a host at it. Pure: no host, no file.
 */

/** Where the cache host's servers listen (playbooks/cache.yaml: cache_address, apt_port, http_port, git_port). */
export interface CacheEndpoint {
  address: string
  aptPort: number
  httpPort: number
  gitPort: number
}

/** One nginx location of the cache: http://CACHE/PATH/ proxies URL. */
export interface HttpUpstream {
  path: string
  url: string
  /** Absolute links in its pages to rewrite to another location of the cache (PyPI's simple pages link files.pythonhosted.org). */
  rewrite?: {from: string; to: string}
}

export interface CachePlan {
  /** Vars for playbooks/cache.yaml on the cache host. */
  cacheVars: {cache_address: string; http_upstreams: HttpUpstream[]; git_repos: Array<{name: string; url: string}>; warm_urls: Array<{url: string; checksum_url?: string}>}
  /** Vars for playbooks/cache-client.yaml on every other host. */
  clientVars: {cache_address: string; apt_port: number; http_port: number; git_port: number; pypi_index: string; git_rewrites: Array<{from: string; to: string}>}
  /**
   * Vars laid over the playbook's own on every other host: each artifact's var (and its
   * checksum's) points at the cache while the host's check found the cache answering
   * (the local fact room_cache.up, written by cache-client.yaml), else stays upstream.
   */
  overlay: Record<string, string>
}

/** The upstreams every room cache proxies whatever the playbook declares: PyPI, for pip (pip.conf's index-url); its pages link its files' host absolutely. */
function pypi(index: string, files: string): HttpUpstream[] {
  return [
    {path: 'pypi', url: index, rewrite: {from: files, to: 'pythonhosted'}},
    {path: 'pythonhosted', url: files},
  ]
}

export const PYPI_DEFAULTS = {index: 'https://pypi.org/', files: 'https://files.pythonhosted.org/'}

const hostPart = (address: string) => (address.includes(':') ? `[${address}]` : address)

function httpBase(c: CacheEndpoint): string {
  return `http://${hostPart(c.address)}${c.httpPort === 80 ? '' : `:${c.httpPort}`}`
}

/** The cache's location for an upstream origin: its host name (and port), as a path segment. */
function locationOf(u: URL): string {
  return u.port ? `${u.hostname}_${u.port}` : u.hostname
}

/** A repository's mirror name: the last segment of its path, without ".git", made unique. */
function mirrorName(u: URL, taken: Set<string>): string {
  const base = (u.pathname.replace(/\/+$/, '').split('/').pop() ?? '').replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]/g, '_') || 'repo'
  let name = base
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`
  taken.add(name)
  return name
}

function parseUrl(a: PlanAnswerArtifact, which: 'url' | 'checksum_url'): URL {
  const text = a[which]!
  try {
    const u = new URL(text)
    if (a.kind === 'http' && u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http')
    return u
  } catch {
    throw new Error(`artifact ${which === 'url' ? a.var : a.checksum_var} is ${JSON.stringify(text)}, not ${a.kind === 'git' ? 'a ' : 'an http(s) '}URL a room cache can mirror`)
  }
}

/** When the host found its cache answering, the cache's URL; else the upstream one. */
const viaCache = (cached: string, upstream: string) => `{% if facts.local.room_cache.up %}${cached}{% else %}${upstream}{% endif %}`

export function planRoomCache(artifacts: readonly PlanAnswerArtifact[], cache: CacheEndpoint, upstream: {index: string; files: string} = PYPI_DEFAULTS): CachePlan {
  const base = httpBase(cache)
  const upstreams = new Map<string, HttpUpstream>(pypi(upstream.index, upstream.files).map((u) => [u.path, u]))
  const repos: Array<{name: string; url: string}> = []
  const names = new Set<string>()
  const warm: Array<{url: string; checksum_url?: string}> = []
  const overlay: Record<string, string> = {}
  const rewrites: Array<{from: string; to: string}> = []

  const cachedHttp = (u: URL): string => {
    const path = locationOf(u)
    const origin = `${u.protocol}//${u.host}/`
    const known = upstreams.get(path)
    if (known && known.url !== origin) throw new Error(`two upstreams map to the cache location /${path}/ (${known.url} and ${origin})`)
    upstreams.set(path, {path, url: origin})
    return `${base}/${path}${u.pathname}${u.search}`
  }

  for (const a of artifacts) {
    if (a.kind === 'git') {
      const u = parseUrl(a, 'url')
      const name = mirrorName(u, names)
      repos.push({name, url: a.url})
      const to = `git://${hostPart(cache.address)}:${cache.gitPort}/${name}.git`
      rewrites.push({from: a.url, to})
      overlay[a.var] = viaCache(to, a.url)
      continue
    }
    const url = cachedHttp(parseUrl(a, 'url'))
    overlay[a.var] = viaCache(url, a.url)
    let checksum: string | undefined
    if (a.checksum_var && a.checksum_url) {
      checksum = cachedHttp(parseUrl(a, 'checksum_url'))
      overlay[a.checksum_var] = viaCache(checksum, a.checksum_url)
    }
    warm.push({url, ...(checksum ? {checksum_url: checksum} : {})})
  }

  return {
    cacheVars: {cache_address: cache.address, http_upstreams: [...upstreams.values()], git_repos: repos, warm_urls: warm},
    clientVars: {
      cache_address: cache.address,
      apt_port: cache.aptPort,
      http_port: cache.httpPort,
      git_port: cache.gitPort,
      pypi_index: `${base}/pypi/simple/`,
      git_rewrites: rewrites,
    },
    overlay,
  }
}
