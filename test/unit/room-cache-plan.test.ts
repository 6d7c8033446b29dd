/**
 * planRoomCache (src/room-cache/plan.ts): from a playbook's artifacts (their URLs as its dry run
 * rendered them), the cache host's nginx upstreams, git mirrors and warm list, the client's vars,
 * and the overlay that points each artifact var at the cache while the host found it up. The
 * overlay's templates are also rendered with LiquidJS, the way the agent renders vars.
 */
import {Liquid} from 'liquidjs'
import {describe, expect, it} from 'vitest'
import {planRoomCache, PYPI_DEFAULTS, type CacheEndpoint} from '../../src/room-cache/plan.js'
import type {PlanAnswerArtifact} from '../../src/protocol/index.js'

const CACHE: CacheEndpoint = {address: '10.0.0.5', aptPort: 3142, httpPort: 80, gitPort: 9418}

const viaCache = (cached: string, upstream: string) => `{% if facts.local.room_cache.up %}${cached}{% else %}${upstream}{% endif %}`

const IMAGE = 'https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img?rev=3'
const SUMS = 'https://cloud-images.ubuntu.com/noble/current/SHA256SUMS'
const KERNEL = 'http://mirror.example:8080/ipa/files/ipa.kernel'
const BIFROST = 'https://opendev.org/openstack/bifrost'
const FORK = 'https://github.com/someone/bifrost.git'

const ARTIFACTS: PlanAnswerArtifact[] = [
  {var: 'image_url', kind: 'http', url: IMAGE, checksum_var: 'sums_url', checksum_url: SUMS},
  {var: 'kernel_url', kind: 'http', url: KERNEL},
  {var: 'bifrost_git_url', kind: 'git', url: BIFROST},
  {var: 'fork_git_url', kind: 'git', url: FORK},
]

const PYPI = [
  {path: 'pypi', url: 'https://pypi.org/', rewrite: {from: 'https://files.pythonhosted.org/', to: 'pythonhosted'}},
  {path: 'pythonhosted', url: 'https://files.pythonhosted.org/'},
]

const render = (tpl: string, local: Record<string, unknown>) => new Liquid({strictVariables: true, lenientIf: true}).parseAndRenderSync(tpl, {facts: {local}})

describe('planRoomCache: http artifacts', () => {
  it('each origin becomes an nginx upstream at its host name (host_port with a port), after the PyPI ones', () => {
    const plan = planRoomCache(ARTIFACTS, CACHE)
    expect(plan.cacheVars.http_upstreams).toEqual([
      ...PYPI,
      {path: 'cloud-images.ubuntu.com', url: 'https://cloud-images.ubuntu.com/'},
      {path: 'mirror.example_8080', url: 'http://mirror.example:8080/'},
    ])
  })

  it('the overlay var is the cache URL (location + path + query, no :80) while the cache is up, else the upstream URL', () => {
    const plan = planRoomCache(ARTIFACTS, CACHE)
    expect(plan.overlay.image_url).toBe(viaCache('http://10.0.0.5/cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img?rev=3', IMAGE))
    expect(plan.overlay.kernel_url).toBe(viaCache('http://10.0.0.5/mirror.example_8080/ipa/files/ipa.kernel', KERNEL))
  })

  it('a cache HTTP port other than 80 is in the cache URLs and the pip index', () => {
    const plan = planRoomCache(ARTIFACTS, {...CACHE, httpPort: 8081})
    expect(plan.overlay.kernel_url).toBe(viaCache('http://10.0.0.5:8081/mirror.example_8080/ipa/files/ipa.kernel', KERNEL))
    expect(plan.cacheVars.warm_urls[1]).toEqual({url: 'http://10.0.0.5:8081/mirror.example_8080/ipa/files/ipa.kernel'})
    expect(plan.clientVars.pypi_index).toBe('http://10.0.0.5:8081/pypi/simple/')
  })

  it('the checksum var gets the same treatment and is the checksum_url of its warm entry; one without a checksum has none', () => {
    const plan = planRoomCache(ARTIFACTS, CACHE)
    const cachedSums = 'http://10.0.0.5/cloud-images.ubuntu.com/noble/current/SHA256SUMS'
    expect(plan.overlay.sums_url).toBe(viaCache(cachedSums, SUMS))
    expect(plan.cacheVars.warm_urls).toStrictEqual([
      {url: 'http://10.0.0.5/cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img?rev=3', checksum_url: cachedSums},
      {url: 'http://10.0.0.5/mirror.example_8080/ipa/files/ipa.kernel'},
    ])
    expect(Object.keys(plan.overlay).sort()).toEqual(['bifrost_git_url', 'fork_git_url', 'image_url', 'kernel_url', 'sums_url'])
  })

  it('artifacts from one origin share one upstream', () => {
    const plan = planRoomCache(
      [
        {var: 'a', kind: 'http', url: 'https://tarballs.opendev.org/x/a.kernel'},
        {var: 'b', kind: 'http', url: 'https://tarballs.opendev.org/y/b.initramfs'},
      ],
      CACHE,
    )
    expect(plan.cacheVars.http_upstreams).toEqual([...PYPI, {path: 'tarballs.opendev.org', url: 'https://tarballs.opendev.org/'}])
    expect(plan.cacheVars.warm_urls.map((w) => w.url)).toEqual(['http://10.0.0.5/tarballs.opendev.org/x/a.kernel', 'http://10.0.0.5/tarballs.opendev.org/y/b.initramfs'])
  })

  it('two different origins mapping to the same location are refused', () => {
    const clash: PlanAnswerArtifact[] = [
      {var: 'a', kind: 'http', url: 'https://example.org/a'},
      {var: 'b', kind: 'http', url: 'http://example.org/b'},
    ]
    expect(() => planRoomCache(clash, CACHE)).toThrow('two upstreams map to the cache location /example.org/ (https://example.org/ and http://example.org/)')
    // An image and its checksum on different schemes of one host clash too.
    expect(() => planRoomCache([{var: 'a', kind: 'http', url: 'https://example.org/a', checksum_var: 's', checksum_url: 'http://example.org/SUMS'}], CACHE)).toThrow(/two upstreams map to the cache location \/example\.org\//)
  })

  it('a value that is not an http(s) URL is refused, naming the var (or the checksum var)', () => {
    expect(() => planRoomCache([{var: 'image_url', kind: 'http', url: 'not a url'}], CACHE)).toThrow('artifact image_url is "not a url", not an http(s) URL a room cache can mirror')
    expect(() => planRoomCache([{var: 'image_url', kind: 'http', url: 'ftp://example.org/img'}], CACHE)).toThrow(/^artifact image_url is "ftp:\/\/example\.org\/img", not an http\(s\) URL/)
    expect(() => planRoomCache([{var: 'image_url', kind: 'http', url: IMAGE, checksum_var: 'sums_url', checksum_url: 'SHA256SUMS'}], CACHE)).toThrow(/^artifact sums_url is "SHA256SUMS"/)
    expect(() => planRoomCache([{var: 'repo', kind: 'git', url: 'git@github.com:someone/bifrost.git'}], CACHE)).toThrow(/^artifact repo is "git@github\.com:someone\/bifrost\.git", not a URL/)
  })
})

describe('planRoomCache: git artifacts', () => {
  it('each repository is mirrored under a unique name (the second "bifrost" is bifrost-2)', () => {
    const plan = planRoomCache(ARTIFACTS, CACHE)
    expect(plan.cacheVars.git_repos).toEqual([
      {name: 'bifrost', url: BIFROST},
      {name: 'bifrost-2', url: FORK},
    ])
  })

  it('the overlay and the client\'s git rewrites point at git://ADDR:GITPORT/NAME.git', () => {
    const plan = planRoomCache(ARTIFACTS, {...CACHE, gitPort: 9419})
    expect(plan.overlay.bifrost_git_url).toBe(viaCache('git://10.0.0.5:9419/bifrost.git', BIFROST))
    expect(plan.overlay.fork_git_url).toBe(viaCache('git://10.0.0.5:9419/bifrost-2.git', FORK))
    expect(plan.clientVars.git_rewrites).toEqual([
      {from: BIFROST, to: 'git://10.0.0.5:9419/bifrost.git'},
      {from: FORK, to: 'git://10.0.0.5:9419/bifrost-2.git'},
    ])
  })

  it('git artifacts are not http upstreams nor warmed over HTTP', () => {
    const plan = planRoomCache([{var: 'repo', kind: 'git', url: BIFROST}], CACHE)
    expect(plan.cacheVars.http_upstreams).toEqual(PYPI)
    expect(plan.cacheVars.warm_urls).toEqual([])
  })
})

describe('planRoomCache: PyPI and the client vars', () => {
  it('with no artifacts: the PyPI upstreams (pypi rewriting to pythonhosted), nothing else', () => {
    const plan = planRoomCache([], CACHE)
    expect(plan.cacheVars).toEqual({cache_address: '10.0.0.5', http_upstreams: PYPI, git_repos: [], warm_urls: []})
    expect(plan.overlay).toEqual({})
    expect(plan.clientVars).toEqual({cache_address: '10.0.0.5', apt_port: 3142, http_port: 80, git_port: 9418, pypi_index: 'http://10.0.0.5/pypi/simple/', git_rewrites: []})
    expect(PYPI_DEFAULTS).toEqual({index: 'https://pypi.org/', files: 'https://files.pythonhosted.org/'})
  })

  it('the upstream argument replaces the PyPI defaults', () => {
    const upstream = {index: 'https://devpi.lan/root/pypi/', files: 'https://devpi.lan/files/'}
    const plan = planRoomCache(ARTIFACTS, CACHE, upstream)
    expect(plan.cacheVars.http_upstreams.slice(0, 2)).toEqual([
      {path: 'pypi', url: 'https://devpi.lan/root/pypi/', rewrite: {from: 'https://devpi.lan/files/', to: 'pythonhosted'}},
      {path: 'pythonhosted', url: 'https://devpi.lan/files/'},
    ])
    expect(JSON.stringify(plan.cacheVars.http_upstreams)).not.toContain('pypi.org')
    expect(JSON.stringify(plan.cacheVars.http_upstreams)).not.toContain('files.pythonhosted.org')
  })

  it('an IPv6 cache address is bracketed in URLs, plain in cache_address', () => {
    const plan = planRoomCache(ARTIFACTS, {address: 'fd00::5', aptPort: 3142, httpPort: 8080, gitPort: 9418})
    expect(plan.overlay.kernel_url).toBe(viaCache('http://[fd00::5]:8080/mirror.example_8080/ipa/files/ipa.kernel', KERNEL))
    expect(plan.overlay.bifrost_git_url).toBe(viaCache('git://[fd00::5]:9418/bifrost.git', BIFROST))
    expect(plan.clientVars.pypi_index).toBe('http://[fd00::5]:8080/pypi/simple/')
    expect(plan.clientVars.cache_address).toBe('fd00::5')
    expect(plan.cacheVars.cache_address).toBe('fd00::5')
    // The same holds with port 80 (no port in the URL, still bracketed).
    expect(planRoomCache(ARTIFACTS, {address: 'fd00::5', aptPort: 3142, httpPort: 80, gitPort: 9418}).overlay.image_url).toMatch(/^\{% if facts\.local\.room_cache\.up %\}http:\/\/\[fd00::5\]\/cloud-images/)
  })
})

describe('the overlay, rendered by LiquidJS', () => {
  const plan = planRoomCache(ARTIFACTS, CACHE)

  it('gives the cache URL while facts.local.room_cache.up', () => {
    const up = {room_cache: {up: true}}
    expect(render(plan.overlay.image_url!, up)).toBe('http://10.0.0.5/cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img?rev=3')
    expect(render(plan.overlay.sums_url!, up)).toBe('http://10.0.0.5/cloud-images.ubuntu.com/noble/current/SHA256SUMS')
    expect(render(plan.overlay.bifrost_git_url!, up)).toBe('git://10.0.0.5:9418/bifrost.git')
  })

  it('gives the upstream URL when facts.local has no room_cache, or it is down', () => {
    for (const local of [{}, {room_cache: {up: false}}]) {
      expect(render(plan.overlay.image_url!, local)).toBe(IMAGE)
      expect(render(plan.overlay.sums_url!, local)).toBe(SUMS)
      expect(render(plan.overlay.kernel_url!, local)).toBe(KERNEL)
      expect(render(plan.overlay.bifrost_git_url!, local)).toBe(BIFROST)
    }
  })
})
