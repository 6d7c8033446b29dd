import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {
  checkHostKey,
  fingerprint,
  hashHostId,
  hostFieldMatches,
  hostIdFor,
  keyTypeOf,
  KnownHostsFile,
  MemoryHostKeyStore,
  parseKnownHosts,
} from '../../src/transport/known-hosts.js'

// Made with ssh-keygen (OpenSSH 9.2): a key, its `ssh-keygen -lf` fingerprint, and
// `ssh-keygen -H` of "[127.77.0.5]:2022" and "bastion.example.org".
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOs3ilCUkK0o315FFT5FmsRR+Q2M75JwWbgl57V6ZuMT'
const KEY_FP = 'SHA256:pB7IB33KJ8Pnwd8tYoRvc7pwCS7Xj1W+Jz+UOuh/Qmo'
const HASHED_PORT = '|1|Yuk6bGhHYY+c/lg3TdGOHAAPpM4=|9AxDo8JyKzxCWhaVQMHTVAiNxbc='
const HASHED_NAME = '|1|zVRLgYjIm4F5Nvw1w2c9OvLWKc8=|L1cSpRno0QdMJxa8pEIZK5LO5EM='
const OTHER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINjQe+gTwXmeQx4rBxJ7X6/SWftdn7HnylgjFhDMFIKI'
const RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7'
const blob = (key: string): Buffer => Buffer.from(key.split(' ')[1], 'base64')

let dirs: string[] = []
afterEach(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
  dirs = []
})
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fleet-kh-'))
  dirs.push(d)
  return d
}

describe('known_hosts parsing', () => {
  it('reads plain, port, wildcard, hashed and marker lines and skips comments and junk', () => {
    const text = [
      '# a comment',
      '',
      `jump.example.org,10.0.0.1 ${KEY} root@jump`,
      `[127.77.0.5]:2022 ${OTHER}`,
      `${HASHED_PORT} ${KEY}`,
      `@revoked * ${OTHER}`,
      `@cert-authority *.example.org ${KEY}`,
      'garbage-without-key',
      `host ssh-ed25519 not*base64!`,
    ].join('\n')
    const entries = parseKnownHosts(text)
    expect(entries.map((e) => e.line)).toEqual([3, 4, 5, 6, 7])
    expect(entries[0]).toMatchObject({hosts: 'jump.example.org,10.0.0.1', key: KEY, comment: 'root@jump'})
    expect(entries[3].marker).toBe('revoked')
    expect(entries[4].marker).toBe('cert-authority')
  })

  it('matches host ids like OpenSSH: port form, lists, wildcards, negation, case', () => {
    expect(hostIdFor('10.0.0.1')).toBe('10.0.0.1')
    expect(hostIdFor('10.0.0.1', 2022)).toBe('[10.0.0.1]:2022')
    expect(hostFieldMatches('jump.example.org,10.0.0.1', '10.0.0.1')).toBe(true)
    expect(hostFieldMatches('jump.example.org,10.0.0.1', '[10.0.0.1]:2022')).toBe(false)
    expect(hostFieldMatches('*.example.org', 'A.Example.ORG')).toBe(true)
    expect(hostFieldMatches('*.example.org,!bad.example.org', 'bad.example.org')).toBe(false)
    expect(hostFieldMatches('10.0.0.?', '10.0.0.7')).toBe(true)
    expect(hostFieldMatches('10.0.0.?', '10.0.0.17')).toBe(false)
  })

  it('matches hashed entries written by ssh-keygen -H, and only for their host', () => {
    expect(hostFieldMatches(HASHED_PORT, '[127.77.0.5]:2022')).toBe(true)
    expect(hostFieldMatches(HASHED_PORT, '127.77.0.5')).toBe(false)
    expect(hostFieldMatches(HASHED_NAME, 'bastion.example.org')).toBe(true)
    expect(hostFieldMatches(HASHED_NAME, 'bastion.example.com')).toBe(false)
    // our own hashing round-trips
    expect(hostFieldMatches(hashHostId('[h]:22022'), '[h]:22022')).toBe(true)
  })

  it('computes key type and OpenSSH fingerprints', () => {
    expect(keyTypeOf(blob(KEY))).toBe('ssh-ed25519')
    expect(fingerprint(KEY)).toBe(KEY_FP)
    expect(fingerprint(blob(KEY))).toBe(KEY_FP)
  })
})

describe('trust on first use', () => {
  it('says new, then known, then changed for another key', () => {
    const store = new MemoryHostKeyStore()
    const first = checkHostKey(store, '[h]:2022', blob(KEY))
    expect(first.status).toBe('new')
    store.set('[h]:2022', first.key)
    expect(checkHostKey(store, '[h]:2022', blob(KEY)).status).toBe('known')
    const changed = checkHostKey(store, '[h]:2022', blob(OTHER))
    expect(changed).toMatchObject({status: 'changed', known: [KEY]})
    // another host is not affected
    expect(checkHostKey(store, '[g]:2022', blob(OTHER)).status).toBe('new')
  })

  it('a key of another type than the recorded one counts as changed', () => {
    const store = new MemoryHostKeyStore()
    store.set('h', RSA)
    expect(checkHostKey(store, 'h', blob(KEY)).status).toBe('changed')
  })
})

describe('KnownHostsFile', () => {
  it('reads a user known_hosts with hashed entries and refuses revoked keys', () => {
    const file = join(tmp(), 'known_hosts')
    writeFileSync(file, `${HASHED_PORT} ${KEY}\n${HASHED_NAME} ${KEY}\n@revoked * ${OTHER}\n`)
    const store = new KnownHostsFile(file)
    expect(store.get('[127.77.0.5]:2022')).toBe(KEY)
    expect(store.get('bastion.example.org')).toBe(KEY)
    expect(store.get('[127.77.0.6]:2022')).toBeUndefined()
    expect(checkHostKey(store, '[127.77.0.5]:2022', blob(KEY)).status).toBe('known')
    expect(checkHostKey(store, '[127.77.0.9]:2022', blob(OTHER)).status).toBe('revoked')
  })

  it('appends new keys in OpenSSH format that a new instance reads back, and deletes them', () => {
    const dir = tmp()
    const file = join(dir, 'sub', 'known_hosts')
    const store = new KnownHostsFile(file)
    store.set('[127.77.0.1]:2022', `${KEY} comment-dropped`)
    store.set('[127.77.0.1]:2022', KEY) // no duplicate
    store.set('[127.77.0.2]:2022', OTHER)
    expect(readFileSync(file, 'utf8')).toBe(`[127.77.0.1]:2022 ${KEY}\n[127.77.0.2]:2022 ${OTHER}\n`)
    const again = new KnownHostsFile(file)
    expect(again.get('[127.77.0.1]:2022')).toBe(KEY)
    again.delete('[127.77.0.1]:2022')
    expect(new KnownHostsFile(file).get('[127.77.0.1]:2022')).toBeUndefined()
    expect(new KnownHostsFile(file).get('[127.77.0.2]:2022')).toBe(OTHER)
  })

  it("a room's file: every host its own line's key, wildcards, negations, hashed lines and revocations beside them", () => {
    const file = join(tmp(), 'known_hosts')
    const id = (i: number) => `[10.7.${i >> 8}.${i & 255}]:22`
    const lines = Array.from({length: 300}, (_, i) => `${id(i)} ${i % 2 ? KEY : OTHER}`)
    lines.push(`*.lab.example,!bad.lab.example ${KEY}`, `${HASHED_NAME} ${OTHER}`, `@revoked [10.7.0.9]:22 ${OTHER}`)
    writeFileSync(file, lines.join('\n') + '\n')
    const store = new KnownHostsFile(file)
    for (let i = 0; i < 300; i++) expect(store.getAll(id(i)), id(i)).toEqual([i % 2 ? KEY : OTHER])
    expect(store.getAll('[10.7.1.44]:22')).toEqual([])
    expect(store.getAll('Node1.LAB.example')).toEqual([KEY])
    expect(store.getAll('bad.lab.example')).toEqual([])
    expect(store.getAll('bastion.example.org')).toEqual([OTHER])
    expect(checkHostKey(store, id(9), blob(OTHER)).status).toBe('revoked')
    expect(checkHostKey(store, id(8), blob(OTHER)).status).toBe('known')
  })

  it('hashes new entries when asked', () => {
    const file = join(tmp(), 'known_hosts')
    new KnownHostsFile(file, {hashNew: true}).set('[10.1.1.1]:2022', KEY)
    const text = readFileSync(file, 'utf8')
    expect(text).toMatch(/^\|1\|[^|]+\|[^ ]+ ssh-ed25519 /)
    expect(text).not.toContain('10.1.1.1')
    expect(new KnownHostsFile(file).get('[10.1.1.1]:2022')).toBe(KEY)
  })
})
