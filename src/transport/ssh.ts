/**
 * SSH transport (ssh2): one connection per host, reused for every exec and file
 * transfer; keepalives; key-file and ssh-agent authentication, never a prompt;
 * trust-on-first-use host keys through a HostKeyStore; ProxyJump through a bastion.
 */
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {chmod, mkdir, rename, rm, stat} from 'node:fs/promises'
import {homedir} from 'node:os'
import {basename, dirname, join, posix} from 'node:path'
import type {Duplex} from 'node:stream'

import ssh2 from 'ssh2'
import type {AnyAuthMethod, ClientChannel, ConnectConfig, SFTPWrapper} from 'ssh2'

import {
  AuthFailedError,
  ConnectionLostError,
  ExecAbortedError,
  ExecTimeoutError,
  HostKeyMismatchError,
  HostKeyRevokedError,
  TransportError,
  UnreachableError,
} from './errors.js'
import {checkHostKey, fingerprint, hostIdFor, knownKeys, type HostKeyStore} from './known-hosts.js'
import {identityKey, loadKey, type LoadedKey} from './ssh-keys.js'
import type {ExecOptions, ExecResult, Transport} from './types.js'

const {Client} = ssh2
type SshClient = InstanceType<typeof Client>

export interface SshTarget {
  host: string
  /** Default 22. */
  port?: number
  username: string
  /** Private key files, tried in order (unencrypted, or with `passphrase`). */
  identityFiles?: string[]
  /** Private keys in memory (OpenSSH or PEM text). */
  privateKeys?: Array<string | Buffer>
  passphrase?: string
  /** ssh-agent socket; default $SSH_AUTH_SOCK. `false` disables the agent. */
  agent?: string | false
  /** Name under which the host key is recorded instead of `[host]:port` (OpenSSH HostKeyAlias). */
  hostKeyAlias?: string
  /** For messages; default `user@host:port`. */
  label?: string
}

export interface SshOptions extends SshTarget {
  /** Recorded host keys (trust on first use). */
  knownHosts: HostKeyStore
  /**
   * ProxyJump: a bastion to go through. An SshTransport is shared (connected if needed,
   * never closed by us); options make a private one (closed with us; its knownHosts
   * defaults to ours).
   */
  jump?: SshTransport | (SshTarget & Partial<Omit<SshOptions, keyof SshTarget>>)
  /** TCP connect + SSH handshake + auth must finish within this. Default 15 s. */
  connectTimeoutMs?: number
  /** SSH-level keepalive. Default every 10 s, 3 unanswered = connection lost. */
  keepaliveIntervalMs?: number
  keepaliveCountMax?: number
  /** Offer zlib compression (ssh2 supports zlib@openssh.com and zlib). Default false. */
  compress?: boolean
  /** Session channels open at once on this connection (sshd MaxSessions defaults to 10; SFTP holds one). Default 8. */
  maxChannels?: number
  /** Cap for collected stdout/stderr each. Default 1 MiB. */
  outputCapBytes?: number
  /** ssh2 debug lines. */
  debug?: (line: string) => void
}

/** Host key algorithms that produce a key of a given stored key type. */
const ALGOS_FOR_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
}
const DEFAULT_HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']

const UNREACHABLE_CODES: Record<string, 'refused' | 'dns' | 'network' | 'timeout' | 'closed'> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EHOSTUNREACH: 'network',
  ENETUNREACH: 'network',
  EHOSTDOWN: 'network',
  EADDRNOTAVAIL: 'network',
  ETIMEDOUT: 'timeout',
  ECONNRESET: 'closed',
  EPIPE: 'closed',
}

/** A counting semaphore for session channels. */
class Slots {
  private waiting: Array<() => void> = []
  private used = 0
  constructor(private readonly max: number) {}
  async acquire(): Promise<void> {
    if (this.used < this.max) {
      this.used++
      return
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve))
  }
  release(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.used--
  }
}

export class SshTransport implements Transport {
  readonly label: string
  /** Name under which the host key is recorded. */
  readonly hostId: string
  private presentedKey?: string

  private readonly opts: SshOptions
  private client?: SshClient
  private connecting?: Promise<void>
  private sftpP?: Promise<SFTPWrapper>
  private lost = false
  private lostCause?: unknown
  private closing = false
  private slots: Slots
  private readonly onLost = new Set<(err: ConnectionLostError) => void>()
  private jumpShared?: SshTransport
  private jumpOwned?: SshTransport

  constructor(opts: SshOptions) {
    this.opts = opts
    const port = opts.port ?? 22
    this.label = opts.label ?? `${opts.username}@${opts.host}${port === 22 ? '' : `:${port}`}`
    this.hostId = opts.hostKeyAlias ?? hostIdFor(opts.host, port)
    this.slots = new Slots(Math.max(1, opts.maxChannels ?? 8))
    if (opts.jump instanceof SshTransport) this.jumpShared = opts.jump
    else if (opts.jump) this.jumpOwned = new SshTransport({knownHosts: opts.knownHosts, ...opts.jump} as SshOptions)
  }

  /** `TYPE BASE64` of the key the host presented on the last connect (see Transport.hostKey). */
  get hostKey(): string | undefined {
    return this.presentedKey
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.client !== undefined && !this.lost
  }

  async connect(): Promise<void> {
    if (this.connected) return
    if (this.connecting) return this.connecting
    this.closing = false
    this.connecting = this.doConnect().finally(() => {
      this.connecting = undefined
    })
    return this.connecting
  }

  private async doConnect(): Promise<void> {
    const port = this.opts.port ?? 22
    const auth = this.authMethods()

    let sock: Duplex | undefined
    const jump = this.jumpShared ?? this.jumpOwned
    if (jump) {
      try {
        await jump.connect()
      } catch (err) {
        if (err instanceof TransportError) {
          throw new UnreachableError(this.label, 'proxy', `${this.label}: cannot reach the jump host ${jump.label}: ${err.message}`, {cause: err})
        }
        throw err
      }
      sock = await jump.forwardOut(this.opts.host, port).catch((err: unknown) => {
        throw new UnreachableError(this.label, 'proxy', `${this.label}: jump host ${jump.label} could not connect to ${this.opts.host}:${port}: ${(err as Error).message}`, {cause: err})
      })
    }

    const client = new Client()
    let hostKeyError: TransportError | undefined
    const known = knownKeys(this.opts.knownHosts, this.hostId)
    const preferred = [...new Set(known.flatMap((k) => ALGOS_FOR_TYPE[k.split(' ')[0]] ?? []))]
    const serverHostKey = [...preferred, ...DEFAULT_HOST_KEY_ALGOS.filter((a) => !preferred.includes(a))]

    const config: ConnectConfig = {
      host: this.opts.host,
      port,
      username: this.opts.username,
      sock: sock as ConnectConfig['sock'],
      readyTimeout: this.opts.connectTimeoutMs ?? 15_000,
      keepaliveInterval: this.opts.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: this.opts.keepaliveCountMax ?? 3,
      tryKeyboard: false,
      authHandler: auth,
      algorithms: {
        serverHostKey: serverHostKey as NonNullable<ConnectConfig['algorithms']>['serverHostKey'],
        ...(this.opts.compress ? {compress: ['zlib@openssh.com', 'zlib', 'none']} : {}),
      },
      hostVerifier: (key: Buffer): boolean => {
        let verdict
        try {
          verdict = checkHostKey(this.opts.knownHosts, this.hostId, key)
        } catch (err) {
          hostKeyError = new TransportError(this.label, `${this.label}: unreadable host key: ${(err as Error).message}`)
          return false
        }
        const where = this.opts.knownHosts.location ?? '(host key store)'
        if (verdict.status === 'new') {
          try {
            this.opts.knownHosts.set(this.hostId, verdict.key)
          } catch (err) {
            hostKeyError = new TransportError(this.label, `${this.label}: cannot record the host key in ${where}: ${(err as Error).message}`, {cause: err})
            return false
          }
        } else if (verdict.status === 'changed') {
          hostKeyError = new HostKeyMismatchError(this.label, {
            hostId: this.hostId,
            knownFingerprints: verdict.known.map((k) => `${k.split(' ')[0]} ${fingerprint(k)}`),
            offeredFingerprint: fingerprint(key),
            offeredType: verdict.key.split(' ')[0],
            storeLocation: where,
          })
          return false
        } else if (verdict.status === 'revoked') {
          hostKeyError = new HostKeyRevokedError(this.label, this.hostId, fingerprint(key), where)
          return false
        }
        this.presentedKey = verdict.key
        return true
      },
      ...(this.opts.debug ? {debug: this.opts.debug} : {}),
    }

    await new Promise<void>((resolve, reject) => {
      let settled = false
      let lastError: (Error & {level?: string; code?: string}) | undefined
      client.on('ready', () => {
        settled = true
        this.client = client
        this.slots = new Slots(Math.max(1, this.opts.maxChannels ?? 8))
        this.lost = false
        this.lostCause = undefined
        this.sftpP = undefined
        resolve()
      })
      client.on('error', (err: Error & {level?: string; code?: string}) => {
        if (err.level === 'agent') {
          // The agent failed (dead socket, refused to sign): ssh2 goes on with the next method.
          this.agentError = err
          return
        }
        lastError = err
        if (settled) {
          this.lostCause = err
          return
        }
        settled = true
        client.destroy()
        reject(hostKeyError ?? this.classifyConnectError(err))
      })
      client.on('close', () => {
        if (!settled) {
          settled = true
          reject(
            hostKeyError ??
              new UnreachableError(this.label, 'closed', `${this.label}: the host closed the connection during the SSH handshake`, {cause: lastError}),
          )
          return
        }
        if (this.client === client) this.markLost()
      })
      try {
        client.connect(config)
      } catch (err) {
        settled = true
        reject(new TransportError(this.label, `${this.label}: ${(err as Error).message}`, {cause: err}))
      }
    })
  }

  private classifyConnectError(err: Error & {level?: string; code?: string}): TransportError {
    const port = this.opts.port ?? 22
    const where = `${this.opts.host}:${port}`
    if (err.level === 'client-authentication') {
      return new AuthFailedError(this.label, `${this.label}: authentication failed: the host accepted none of ${this.describeAuth()}`, {cause: err})
    }
    if (err.level === 'client-timeout') {
      return new UnreachableError(this.label, 'timeout', `${this.label}: no SSH session with ${where} within ${this.opts.connectTimeoutMs ?? 15_000} ms`, {cause: err})
    }
    const reason = err.code ? UNREACHABLE_CODES[err.code] : undefined
    if (reason) {
      const what = {refused: 'connection refused', dns: 'host name not found', network: 'network unreachable', timeout: 'connection timed out', closed: 'connection reset'}[reason]
      return new UnreachableError(this.label, reason, `${this.label}: cannot connect to ${where}: ${what} (${err.code})`, {cause: err})
    }
    return new TransportError(this.label, `${this.label}: SSH connection failed: ${err.message}`, {cause: err})
  }

  private authList?: {methods: AnyAuthMethod[]; description: string}

  private agentError?: Error

  private describeAuth(): string {
    const agent = this.agentError ? ` (ssh-agent failed: ${this.agentError.message})` : ''
    return (this.authList?.description ?? 'our keys') + agent
  }

  /** The authentication attempts, in order: key files, in-memory keys, then the agent. */
  private authMethods(): AnyAuthMethod[] {
    if (this.authList) return this.authList.methods
    const username = this.opts.username
    const methods: AnyAuthMethod[] = []
    const described: string[] = []
    const skipped: string[] = []
    const agentSock = this.opts.agent === false ? undefined : (this.opts.agent ?? process.env.SSH_AUTH_SOCK)
    let files = this.opts.identityFiles ?? []
    if (files.length === 0 && !this.opts.privateKeys?.length && !agentSock) {
      files = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f)).filter((f) => existsSync(f))
    }
    for (const file of files) {
      let loaded: LoadedKey
      try {
        loaded = identityKey(file, this.opts.passphrase)
      } catch (err) {
        skipped.push(`${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`)
        continue
      }
      if ('error' in loaded) {
        skipped.push(`${file} (${/encrypted|passphrase/i.test(loaded.error.message) ? 'encrypted, no passphrase given' : loaded.error.message})`)
        continue
      }
      methods.push({type: 'publickey' as const, username, key: loaded.key})
      described.push(`key ${file}`)
    }
    for (const [i, text] of (this.opts.privateKeys ?? []).entries()) {
      const loaded = loadKey(text, this.opts.passphrase)
      if ('error' in loaded) {
        skipped.push(`in-memory key #${i + 1} (${loaded.error.message})`)
        continue
      }
      methods.push({type: 'publickey' as const, username, key: loaded.key})
      described.push(`in-memory key #${i + 1}`)
    }
    if (agentSock) {
      methods.push({type: 'agent' as const, username, agent: agentSock})
      described.push(`the keys in ssh-agent ${agentSock}`)
    }
    if (methods.length === 0) {
      throw new AuthFailedError(
        this.label,
        `${this.label}: no usable SSH key: ${skipped.length ? `skipped ${skipped.join(', ')}` : 'no identity file given, no ssh-agent (SSH_AUTH_SOCK), no ~/.ssh/id_* key'}`,
      )
    }
    const description = described.join(', ') + (skipped.length ? `; skipped ${skipped.join(', ')}` : '')
    this.authList = {methods, description}
    return methods
  }

  private markLost(): void {
    if (this.lost || !this.client) return
    this.lost = true
    this.sftpP = undefined
    const deliberate = this.closing
    const err = new ConnectionLostError(
      this.label,
      deliberate ? `${this.label}: connection closed` : `${this.label}: connection lost${this.lostCause ? ` (${(this.lostCause as Error).message})` : ''}`,
      {cause: this.lostCause},
    )
    for (const fn of this.onLost) fn(err)
    this.onLost.clear()
  }

  private requireClient(): SshClient {
    if (this.client && !this.lost) return this.client
    if (this.lost) throw new ConnectionLostError(this.label, `${this.label}: not connected (connection lost${this.lostCause ? `: ${(this.lostCause as Error).message}` : ''}); call connect() again`)
    throw new TransportError(this.label, `${this.label}: not connected; call connect() first`)
  }

  /** Run `fn` with a session channel slot; a connection loss while waiting or running rejects with ConnectionLostError. */
  private async withChannel<T>(fn: (client: SshClient) => Promise<T>): Promise<T> {
    this.requireClient()
    const slots = this.slots // a reconnect replaces this.slots; release where we acquired
    await slots.acquire()
    let onLost: ((err: ConnectionLostError) => void) | undefined
    try {
      const client = this.requireClient()
      const lost = new Promise<never>((_, reject) => {
        onLost = reject
        this.onLost.add(reject)
      })
      lost.catch(() => undefined)
      return await Promise.race([fn(client), lost])
    } finally {
      if (onLost) this.onLost.delete(onLost)
      slots.release()
    }
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (opts.signal?.aborted) throw new ExecAbortedError(this.label, opts.signal.reason)
    const cap = this.opts.outputCapBytes ?? 1024 * 1024
    return this.withChannel(async (client) => {
      // Listeners go on inside exec()'s callback: ssh2 may parse the command's output,
      // exit status and close from the same TCP read that confirmed the channel.
      return new Promise<ExecResult>((resolve, reject) => {
        client.exec(command, (openErr, stream) => {
          if (openErr) {
            reject(
              this.lost
                ? new ConnectionLostError(this.label, `${this.label}: connection lost while opening a channel`, {cause: openErr})
                : new TransportError(this.label, `${this.label}: cannot open a session channel: ${openErr.message}`, {cause: openErr}),
            )
            return
          }
          this.collectChannel(stream, command, opts, cap, resolve, reject)
        })
      })
    })
  }

  /**
   * Collect a command's channel to its end: stdout and stderr (to the callbacks, or
   * gathered up to `cap`), the exit status, the timeout and the abort; settles the exec.
   */
  private collectChannel(
    stream: ClientChannel,
    command: string,
    opts: ExecOptions,
    cap: number,
    resolve: (r: ExecResult) => void,
    reject: (e: unknown) => void,
  ): void {
    const out: Buffer[] = []
    const err: Buffer[] = []
    let outLen = 0
    let errLen = 0
    let truncated = false
    let exit: {code: number | null; signal?: string} | undefined
    let done = false
    let timer: NodeJS.Timeout | undefined

    const collect = (into: Buffer[], len: number, b: Buffer): number => {
      const room = cap - len
      if (room <= 0) {
        truncated = true
        return len
      }
      if (b.length > room) truncated = true
      into.push(b.length > room ? b.subarray(0, room) : b)
      return len + Math.min(b.length, room)
    }
    const finish = (fn: () => void): void => {
      if (done) return
      done = true
      if (timer) clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      fn()
    }
    const kill = (): void => {
      // ssh2's stream.signal() is a no-op once we sent EOF (we always end stdin), so send
      // the request itself. sshd delivers it to the command (bash execs a simple command).
      const ch = stream as unknown as {outgoing?: {id: number; state: string}; _client?: {_protocol?: {signal(id: number, sig: string): void}}}
      try {
        const state = ch.outgoing?.state
        if (ch.outgoing && (state === 'open' || state === 'eof')) ch._client?._protocol?.signal(ch.outgoing.id, 'KILL')
      } catch {
        // best effort
      }
      stream.close()
    }
    const onAbort = (): void => {
      finish(() => {
        kill()
        reject(new ExecAbortedError(this.label, opts.signal?.reason))
      })
    }

    stream.on('data', (b: Buffer) => {
      if (opts.onStdout) opts.onStdout(b)
      else outLen = collect(out, outLen, b)
    })
    stream.stderr.on('data', (b: Buffer) => {
      if (opts.onStderr) opts.onStderr(b)
      else errLen = collect(err, errLen, b)
    })
    stream.on('exit', (code: number | null, signal?: string) => {
      exit = {code: code ?? null, ...(signal ? {signal} : {})}
    })
    stream.on('close', () => {
      finish(() => {
        if (!exit) {
          // No exit status: the channel or the whole connection went away under the command.
          reject(new ConnectionLostError(this.label, `${this.label}: connection lost while running a command; its outcome is unknown`, {cause: this.lostCause}))
          return
        }
        resolve({
          code: exit.code,
          ...(exit.signal ? {signal: exit.signal} : {}),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          ...(truncated ? {truncated} : {}),
        })
      })
    })
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        finish(() => {
          kill()
          reject(new ExecTimeoutError(this.label, command, opts.timeoutMs!))
        })
      }, opts.timeoutMs)
    }
    opts.signal?.addEventListener('abort', onAbort, {once: true})
    if (opts.stdin !== undefined) stream.end(opts.stdin)
    else stream.end()
  }

  /** One SFTP session per connection, opened on first use. */
  private sftp(): Promise<SFTPWrapper> {
    const client = this.requireClient()
    if (!this.sftpP) {
      const slots = this.slots
      const p = (async () => {
        await slots.acquire() // the SFTP channel holds a session slot for the connection's life
        return new Promise<SFTPWrapper>((resolve, reject) => {
          client.sftp((err, sftp) => {
            if (err) {
              slots.release()
              reject(new TransportError(this.label, `${this.label}: cannot start SFTP: ${err.message}`, {cause: err}))
              return
            }
            sftp.on('close', () => {
              slots.release()
              if (this.sftpP === p) this.sftpP = undefined
            })
            resolve(sftp)
          })
        })
      })()
      p.catch(() => {
        if (this.sftpP === p) this.sftpP = undefined
      })
      this.sftpP = p
    }
    return this.sftpP
  }

  /** Wrap an SFTP failure: connection loss wins over the SFTP message. */
  private fileError(what: string, err: unknown): TransportError {
    if (err instanceof TransportError) return err
    if (this.lost) return new ConnectionLostError(this.label, `${this.label}: connection lost during ${what}`, {cause: err})
    return new TransportError(this.label, `${this.label}: ${what}: ${(err as Error).message}`, {cause: err})
  }

  async putFile(data: Buffer | string, remotePath: string, mode?: number): Promise<void> {
    const localMode = typeof data === 'string' ? (await stat(data)).mode & 0o777 : 0o644
    const finalMode = mode ?? localMode
    const tmp = posix.join(posix.dirname(remotePath), `.${posix.basename(remotePath)}.fleet-${randomBytes(4).toString('hex')}`)
    const lostP = this.lostPromise()
    try {
      const sftp = await Promise.race([this.sftp(), lostP])
      const op = async (): Promise<void> => {
        if (typeof data === 'string') {
          await cb<void>((done) => sftp.fastPut(data, tmp, {mode: finalMode, concurrency: 32, chunkSize: 32768}, done))
        } else {
          await writeBuffer(sftp, tmp, data, finalMode)
        }
        await cb<void>((done) => sftp.chmod(tmp, finalMode, done))
        await cb<void>((done) => sftp.ext_openssh_rename(tmp, remotePath, done)).catch(async (err: unknown) => {
          // No posix-rename extension (not OpenSSH): plain rename refuses to overwrite.
          if (!/extension/i.test((err as Error).message ?? '')) throw err
          await cb<void>((done) => sftp.unlink(remotePath, done)).catch(() => undefined)
          await cb<void>((done) => sftp.rename(tmp, remotePath, done))
        })
      }
      try {
        await Promise.race([op(), lostP])
      } catch (err) {
        if (!this.lost) await cb<void>((done) => sftp.unlink(tmp, done)).catch(() => undefined)
        throw err
      }
    } catch (err) {
      throw this.fileError(`putFile ${remotePath}`, err)
    } finally {
      this.dropLostPromise(lostP)
    }
  }

  async getFile(remotePath: string, localPath: string): Promise<void> {
    const lostP = this.lostPromise()
    const tmp = join(dirname(localPath), `.${basename(localPath)}.fleet-${randomBytes(4).toString('hex')}`)
    try {
      const sftp = await Promise.race([this.sftp(), lostP])
      await mkdir(dirname(localPath), {recursive: true})
      const op = async (): Promise<void> => {
        const attrs = await cb<{mode: number}>((done) => sftp.stat(remotePath, done))
        await cb<void>((done) => sftp.fastGet(remotePath, tmp, {concurrency: 32, chunkSize: 32768}, done))
        await chmod(tmp, attrs.mode & 0o777) // never setuid/setgid bits on this machine
        await rename(tmp, localPath)
      }
      await Promise.race([op(), lostP])
    } catch (err) {
      await rm(tmp, {force: true})
      throw this.fileError(`getFile ${remotePath}`, err)
    } finally {
      this.dropLostPromise(lostP)
    }
  }

  private lostHandlers = new WeakMap<Promise<never>, (err: ConnectionLostError) => void>()
  private lostPromise(): Promise<never> {
    this.requireClient()
    let handler!: (err: ConnectionLostError) => void
    const p = new Promise<never>((_, reject) => {
      handler = reject
    })
    p.catch(() => undefined)
    this.onLost.add(handler)
    this.lostHandlers.set(p, handler)
    return p
  }
  private dropLostPromise(p: Promise<never>): void {
    const h = this.lostHandlers.get(p)
    if (h) this.onLost.delete(h)
  }

  /**
   * Open a direct-tcpip channel from this host to `host:port` (what ProxyJump uses).
   * Connects first if needed.
   */
  async forwardOut(host: string, port: number): Promise<Duplex> {
    await this.connect()
    const client = this.requireClient()
    return new Promise<Duplex>((resolve, reject) => {
      client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
        if (err) reject(err)
        else resolve(stream as unknown as Duplex)
      })
    })
  }

  async close(): Promise<void> {
    this.closing = true
    const client = this.client
    if (client && !this.lost) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          client.destroy()
          resolve()
        }, 2000)
        client.once('close', () => {
          clearTimeout(t)
          resolve()
        })
        client.end()
      })
    }
    this.client = undefined
    this.sftpP = undefined
    this.lost = false
    if (this.jumpOwned) await this.jumpOwned.close()
  }
}

/** Promisify one ssh2 callback-style call. */
function cb<T>(fn: (done: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, value) => (err ? reject(err) : resolve(value as T)))
  })
}

/** Write a buffer to a new remote file with up to 16 writes of 32 KiB in flight. */
async function writeBuffer(sftp: SFTPWrapper, path: string, data: Buffer, mode: number): Promise<void> {
  const handle = await cb<Buffer>((done) => sftp.open(path, 'w', {mode}, done))
  try {
    const chunk = 32 * 1024
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < data.length) {
        const offset = next
        next += chunk
        const len = Math.min(chunk, data.length - offset)
        await cb<void>((done) => sftp.write(handle, data, offset, len, offset, done))
      }
    }
    await Promise.all(Array.from({length: Math.min(16, Math.ceil(data.length / chunk) || 1)}, worker))
  } finally {
    await cb<void>((done) => sftp.close(handle, done))
  }
}
