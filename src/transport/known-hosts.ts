/**
 * Host keys, trust on first use (OpenSSH's `StrictHostKeyChecking accept-new`): a host
 * seen for the first time has its key recorded; a host whose key differs from the
 * recorded one is refused; other hosts are unaffected.
 *
 * Keys are stored as `TYPE BASE64` strings (the known_hosts key columns) under a host
 * id in OpenSSH's spelling: `host` for port 22, `[host]:port` otherwise.
 */
import {createHash, createHmac, randomBytes} from 'node:crypto'
import {appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname} from 'node:path'

import {UserError} from '../errors/user-error.js'

/** Where recorded host keys live; the SQLite store implements this too. */
export interface HostKeyStore {
  /** The recorded key (`TYPE BASE64`) for a host id, if any. */
  get(hostId: string): string | undefined
  /** Record the key for a host id (first use). */
  set(hostId: string, key: string): void
  /** Every recorded key for the host (OpenSSH allows one per key type). Defaults to [get()]. */
  getAll?(hostId: string): string[]
  /** Keys marked revoked for this host (never accepted). */
  getRevoked?(hostId: string): string[]
  /** Forget the host's keys (like `ssh-keygen -R`). */
  delete?(hostId: string): void
  /** For messages: the file or database the keys are in. */
  readonly location?: string
}

/** OpenSSH's host id: `host` on port 22, `[host]:port` otherwise. */
export function hostIdFor(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/** Key type from an SSH public key blob (its first wire string), e.g. `ssh-ed25519`. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error('host key blob too short')
  const len = blob.readUInt32BE(0)
  if (len > blob.length - 4 || len > 64) throw new Error('host key blob malformed')
  return blob.subarray(4, 4 + len).toString('latin1')
}

/** `TYPE BASE64` for a key blob. */
function formatKey(blob: Buffer): string {
  return `${keyTypeOf(blob)} ${blob.toString('base64')}`
}

/** OpenSSH's SHA256 fingerprint (`SHA256:` + unpadded base64) of a blob or a `TYPE BASE64` key. */
export function fingerprint(key: Buffer | string): string {
  const blob = typeof key === 'string' ? Buffer.from(key.trim().split(/\s+/)[1] ?? '', 'base64') : key
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** Normalise a stored key to `TYPE BASE64` (drops a trailing comment). */
function normalise(key: string): string {
  const [type, b64] = key.trim().split(/\s+/)
  return `${type} ${b64}`
}

export type HostKeyVerdict =
  | {status: 'known'; key: string}
  | {status: 'new'; key: string}
  | {status: 'changed'; key: string; known: string[]}
  | {status: 'revoked'; key: string}

/**
 * Decide about an offered host key. Stricter than OpenSSH in one point: when keys of
 * other types are recorded for the host and none matches, that counts as changed
 * (the SSH transport asks for the recorded key types first, so an honest host
 * offers one of them).
 */
export function checkHostKey(store: HostKeyStore, hostId: string, offered: Buffer): HostKeyVerdict {
  const key = formatKey(offered)
  if ((store.getRevoked?.(hostId) ?? []).map(normalise).includes(key)) return {status: 'revoked', key}
  const known = knownKeys(store, hostId)
  if (known.length === 0) return {status: 'new', key}
  if (known.includes(key)) return {status: 'known', key}
  return {status: 'changed', key, known}
}

/** The recorded keys of a host, normalised. */
export function knownKeys(store: HostKeyStore, hostId: string): string[] {
  const all = store.getAll ? store.getAll(hostId) : [store.get(hostId)].filter((k): k is string => k !== undefined)
  return all.map(normalise)
}

/** In memory only (tests, or a first run without a store). */
export class MemoryHostKeyStore implements HostKeyStore {
  readonly location = '(memory)'
  private keys = new Map<string, string>()
  get(hostId: string): string | undefined {
    return this.keys.get(hostId)
  }
  set(hostId: string, key: string): void {
    this.keys.set(hostId, normalise(key))
  }
  delete(hostId: string): void {
    this.keys.delete(hostId)
  }
}

// ---------------------------------------------------------------------------
// OpenSSH known_hosts files

export interface KnownHostsEntry {
  /** 1-based line number in the file. */
  line: number
  marker?: 'cert-authority' | 'revoked'
  /** The host field as written: patterns `a,b,[c]:2222,!d,*.e` or one hashed `|1|salt|hash`. */
  hosts: string
  /** `TYPE BASE64`. */
  key: string
  comment?: string
}

/** Parse known_hosts text; blank lines, comments and malformed lines are skipped. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const out: KnownHostsEntry[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i].trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    const fields = trimmed.split(/\s+/)
    let marker: KnownHostsEntry['marker']
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!.slice(1)
      if (m !== 'cert-authority' && m !== 'revoked') continue
      marker = m
    }
    if (fields.length < 3) continue
    const [hosts, type, b64, ...rest] = fields
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue
    out.push({line: i + 1, marker, hosts, key: `${type} ${b64}`, comment: rest.length > 0 ? rest.join(' ') : undefined})
  }
  return out
}

function globToRegExp(pattern: string): RegExp {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${re}$`, 'i')
}

/** Does an entry's host field match `hostId` (`host` or `[host]:port`)? Hashed entries and `!` negations included. */
export function hostFieldMatches(hosts: string, hostId: string): boolean {
  return hostFieldMatcher(hosts)(hostId)
}

/**
 * An entry's host field as a test of host ids, made once per line: a room looks every host
 * up against every line, so a pattern compiled per lookup cost N² regular expressions.
 */
export function hostFieldMatcher(hosts: string): (hostId: string) => boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|')
    if (!salt || !hash) return () => false
    const key = Buffer.from(salt, 'base64')
    return (hostId) => createHmac('sha1', key).update(hostId).digest('base64') === hash
  }
  // A pattern without wildcards is the host id itself, in any case.
  const patterns = hosts.split(',').map((p) => {
    const negated = p.startsWith('!')
    const pattern = negated ? p.slice(1) : p
    const wild = /[*?]/.test(pattern)
    return {negated, exact: wild ? undefined : pattern.toLowerCase(), glob: wild ? globToRegExp(pattern) : undefined}
  })
  return (hostId) => {
    const id = hostId.toLowerCase()
    let matched = false
    for (const p of patterns) {
      if (!(p.exact !== undefined ? p.exact === id : p.glob!.test(hostId))) continue
      if (p.negated) return false
      matched = true
    }
    return matched
  }
}

/** Hash a host id the way `ssh-keygen -H` / `HashKnownHosts yes` does. */
export function hashHostId(hostId: string, salt = randomBytes(20)): string {
  const mac = createHmac('sha1', salt).update(hostId).digest('base64')
  return `|1|${salt.toString('base64')}|${mac}`
}

/**
 * A HostKeyStore over an OpenSSH known_hosts file: reads plain, wildcard and hashed
 * entries (and @revoked; @cert-authority lines are ignored); new keys are appended as
 * `[host]:port TYPE BASE64` (hashed with `hashNew`). The file is created on the first
 * key recorded.
 */
export class KnownHostsFile implements HostKeyStore {
  readonly location: string
  private entries: KnownHostsEntry[] = []
  /** entries[i]'s host field as a test (hostFieldMatcher). */
  private matchers: Array<(hostId: string) => boolean> = []
  private readonly hashNew: boolean

  constructor(path: string, opts: {hashNew?: boolean} = {}) {
    this.location = path
    this.hashNew = opts.hashNew ?? false
    let text = ''
    if (existsSync(path)) {
      try {
        text = readFileSync(path, 'utf8')
      } catch (err) {
        throw new UserError(`cannot read known-hosts file ${path}: ${(err as Error).message}`)
      }
    }
    this.load(text)
  }

  private load(text: string): void {
    this.entries = parseKnownHosts(text)
    this.matchers = this.entries.map((e) => hostFieldMatcher(e.hosts))
  }

  /** The entries for `hostId`, with the marker wanted (none: plain keys). */
  private matching(hostId: string, marker?: KnownHostsEntry['marker']): KnownHostsEntry[] {
    return this.entries.filter((e, i) => e.marker === marker && this.matchers[i](hostId))
  }

  getAll(hostId: string): string[] {
    return this.matching(hostId).map((e) => e.key)
  }

  get(hostId: string): string | undefined {
    return this.getAll(hostId)[0]
  }

  getRevoked(hostId: string): string[] {
    return this.matching(hostId, 'revoked').map((e) => e.key)
  }

  set(hostId: string, key: string): void {
    const k = normalise(key)
    if (this.getAll(hostId).map(normalise).includes(k)) return
    const hosts = this.hashNew ? hashHostId(hostId) : hostId
    const line = `${hosts} ${k}\n`
    mkdirSync(dirname(this.location), {recursive: true})
    let prefix = ''
    if (existsSync(this.location)) {
      const current = readFileSync(this.location, 'utf8')
      if (current.length > 0 && !current.endsWith('\n')) prefix = '\n'
    }
    appendFileSync(this.location, prefix + line, {mode: 0o644})
    this.load(readFileSync(this.location, 'utf8'))
  }

  /** Remove every non-marker line for the host (like `ssh-keygen -R`). */
  delete(hostId: string): void {
    if (!existsSync(this.location)) return
    const lines = readFileSync(this.location, 'utf8').split('\n')
    const drop = new Set(this.matching(hostId).map((e) => e.line))
    writeFileSync(this.location, lines.filter((_, i) => !drop.has(i + 1)).join('\n'))
    this.load(readFileSync(this.location, 'utf8'))
  }
}
