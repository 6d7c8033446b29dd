/**
 * `--cache-vars FILE` (src/room-cache/cache-vars.ts): each var goes to the room cache playbook
 * that declares it (playbooks/cache.yaml, playbooks/cache-client.yaml, the real ones), one
 * neither declares is refused with its line, and the cache's ports come from the file or else
 * from cache.yaml's defaults.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {cacheEndpoint, declaredVars, readCacheVars} from '../../src/room-cache/cache-vars.js'
import {UserError} from '../../src/errors/user-error.js'

const CACHE = resolve('playbooks/cache.yaml')
const CLIENT = resolve('playbooks/cache-client.yaml')
const dir = mkdtempSync(join(tmpdir(), 'fleet-cache-vars-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

let n = 0
function file(text: string): string {
  const f = join(dir, `vars-${++n}.yaml`)
  writeFileSync(f, text)
  return f
}

/** The UserError `fn` throws. */
function refusal(fn: () => unknown): UserError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(UserError)
    return e as UserError
  }
  throw new Error('expected a UserError, nothing was thrown')
}

describe('readCacheVars: each var to the playbook that declares it', () => {
  it('cache-only vars go to .cache, client-only to .client, the ports to both', () => {
    const f = file(['cache_max_gb: 5', 'nginx_workers: 4', 'cache_required: true', 'pip_conf: /etc/pip-room.conf', 'apt_port: 3143', 'http_port: 8080', 'git_port: 9419', ''].join('\n'))
    const vars = readCacheVars(f, CACHE, CLIENT)
    expect(vars.cache).toEqual({cache_max_gb: 5, nginx_workers: 4, apt_port: 3143, http_port: 8080, git_port: 9419})
    expect(vars.client).toEqual({cache_required: true, pip_conf: '/etc/pip-room.conf', apt_port: 3143, http_port: 8080, git_port: 9419})
  })

  it('structured values are kept as values', () => {
    const f = file('packages:\n  - nginx\n  - {name: x}\n')
    expect(readCacheVars(f, CACHE, CLIENT)).toEqual({cache: {packages: ['nginx', {name: 'x'}]}, client: {}})
  })

  it('a var fleet gives itself (from the hosts file and the artifacts) is refused with its line', () => {
    const f = file('apt_port: 3143\ngit_repos: []\n')
    expect(refusal(() => readCacheVars(f, CACHE, CLIENT)).message).toBe(`${f}:2: field "git_repos": fleet prepare gives this var itself (from the hosts file and the playbook's artifacts); leave it out.`)
  })

  it('a var neither playbook declares is refused with its file and line', () => {
    const f = file('apt_port: 3143\ncache_required: true\nnot_a_cache_var: 1\n')
    const e = refusal(() => readCacheVars(f, CACHE, CLIENT))
    expect(e.message.startsWith(`${f}:3: field "not_a_cache_var": neither room cache playbook has a var of that name`)).toBe(true)
    // It lists what each playbook does take.
    expect(e.message).toMatch(/\(cache host: cache_address, .*cache_max_gb.*; other hosts: cache_address, .*cache_required.*\)\.$/)
  })

  it('invalid YAML names the file and the line', () => {
    const f = file('apt_port: 3143\nhttp_port: 80\ngit_repos: [1,\n  bad: }\n')
    const e = refusal(() => readCacheVars(f, CACHE, CLIENT))
    expect(e.message).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: not valid YAML \\(`))
  })

  it('a file that is not a map is refused at line 1', () => {
    const f = file('- apt_port\n- http_port\n')
    expect(refusal(() => readCacheVars(f, CACHE, CLIENT)).message).toBe(`${f}:1: the cache vars file must be a map of var names to values.`)
  })

  it('a file that cannot be read is refused, naming it', () => {
    const f = join(dir, 'missing.yaml')
    expect(refusal(() => readCacheVars(f, CACHE, CLIENT)).message).toBe(`${f}: cannot read the cache vars file (ENOENT).`)
  })

  it('an empty file, a comments-only file, or no file give nothing', () => {
    for (const f of [file(''), file('# nothing here\n'), undefined]) expect(readCacheVars(f, CACHE, CLIENT)).toEqual({cache: {}, client: {}})
  })
})

describe('cacheEndpoint: the ports fleet points the hosts at', () => {
  it('from the file when it sets them (a string of digits counts)', () => {
    const vars = readCacheVars(file('apt_port: 3143\nhttp_port: "8080"\ngit_port: 9419\n'), CACHE, CLIENT)
    expect(cacheEndpoint('10.0.0.5', vars, CACHE)).toEqual({address: '10.0.0.5', aptPort: 3143, httpPort: 8080, gitPort: 9419})
  })

  it('else the cache playbook\'s defaults: 3142, 80, 9418', () => {
    expect(cacheEndpoint('10.0.0.5', readCacheVars(file('cache_max_gb: 5\n'), CACHE, CLIENT), CACHE)).toEqual({address: '10.0.0.5', aptPort: 3142, httpPort: 80, gitPort: 9418})
    expect(cacheEndpoint('10.0.0.5', {cache: {}, client: {}}, CACHE)).toEqual({address: '10.0.0.5', aptPort: 3142, httpPort: 80, gitPort: 9418})
  })

  it('the defaults are read from the playbook given (plain and {value:} vars), one port set in the file wins over them', () => {
    const pb = file('name: c\nvars:\n  apt_port: 13142\n  http_port: {value: 8088, description: x}\n  git_port: 19418\nsteps:\n  - id: s\n    run: "true"\n')
    expect(cacheEndpoint('c.lan', {cache: {}, client: {}}, pb)).toEqual({address: 'c.lan', aptPort: 13142, httpPort: 8088, gitPort: 19418})
    expect(cacheEndpoint('c.lan', {cache: {git_port: 9000}, client: {}}, pb)).toEqual({address: 'c.lan', aptPort: 13142, httpPort: 8088, gitPort: 9000})
  })
})

describe('declaredVars', () => {
  it('a playbook\'s vars with their plain defaults ({value: X} gives X)', () => {
    const cache = declaredVars(CACHE)
    expect(cache.get('apt_port')).toBe(3142)
    expect(cache.get('cache_max_gb')).toBe(20)
    expect(cache.has('http_upstreams')).toBe(true)
    expect(cache.has('cache_required')).toBe(false)
    const client = declaredVars(CLIENT)
    expect(client.get('cache_required')).toBe(false)
    expect(client.has('cache_max_gb')).toBe(false)
  })
})
