/**
 * SSM transport: the Transport interface over AWS Systems Manager Run Command
 * (AWS-RunShellScript), for instances with no inbound SSH.
 *
 * - exec(): one SendCommand (shared with other instances sending the same
 *   script, up to 50 ids a call), then GetCommandInvocation polled with
 *   backoff. InvocationDoesNotExist right after SendCommand counts as Pending.
 *   Output comes back only when the command ends, and Run Command keeps only
 *   its first 24,000 characters, so output is framed and paged (ssm-wire.ts):
 *   any size arrives intact and checksum-verified, delivered to onStdout /
 *   onStderr in order once the command has ended. `streams` is false, so the
 *   orchestrator follows a journal by polling instead of one long command.
 * - putFile(): gzip + base64 chunks (each command well under the 64 KB limit
 *   of a document's parameters), assembled, sha256-checked and renamed on the
 *   instance. The chunks of a content are the same commands on every
 *   instance, so hosts uploading the same bundle share SendCommands.
 * - putFiles(): several files as one tar, uploaded like one file (the bundle).
 * - getFile(): gzip + base64 through the paged output, sha256-checked.
 *
 * Statuses: Pending/Delayed (and InvocationDoesNotExist) wait for delivery, up
 * to deliveryTimeoutMs, then the host is unreachable; InProgress/Cancelling
 * wait for the end (up to exec's timeoutMs: ExecTimeoutError); Success/Failed
 * give the exit code; TimedOut is a delivery timeout (unreachable) or an
 * execution timeout (ExecTimeoutError); Cancelled (by someone else: our own
 * timeout or abort cancels and throws at once) is a TransportError.
 * Undeliverable, Access Denied and an instance Systems Manager does not manage
 * are SsmUnreachableError with the reason. A command killed under us (no
 * answer from our wrapper) is a ConnectionLostError: the outcome is unknown,
 * and the orchestrator retries it like a dropped SSH connection.
 *
 * Commands run as Run Command runs them (root on EC2), with HOME set and the
 * home as working directory, like an SSH login.
 */
import {createHash, randomBytes} from 'node:crypto'
import {chmod, mkdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'

import type {InstanceInformation} from '@aws-sdk/client-ssm'
import PQueue from 'p-queue'

import {ustar} from '../archive/ustar.js'
import {ConnectionLostError, ExecAbortedError, ExecTimeoutError, TransportError} from './errors.js'
import {apiError, errorName, SsmContext, SsmUnreachableError, type SsmSettings} from './ssm-client.js'
import {
  assembleCommand,
  CHUNK_CHARS,
  chunkCommand,
  cleanupScript,
  execScript,
  INLINE_STDIN_BYTES,
  MAX_COMMAND_BYTES,
  PAGE_BYTES,
  pageScript,
  parseExecAnswer,
  readFileCommand,
  type AssembleTarget,
  type ExecHeader,
} from './ssm-wire.js'
import type {ExecOptions, ExecResult, Transport} from './types.js'
import {REMOTE_ROOT} from '../protocol/remote-layout.js'

export {SsmContext, SsmUnreachableError, type SsmSettings} from './ssm-client.js'

export interface SsmOptions {
  /** The managed instance: `i-...` (EC2) or `mi-...` (hybrid). */
  instanceId: string
  /** For messages; default the instance id. */
  label?: string
  /** Shared client and batchers; default SsmContext.shared(settings). */
  context?: SsmContext
  settings?: SsmSettings
  /** How long the instance may take to pick a command up (Pending/Delayed) before it counts as unreachable. Default 30 s. */
  deliveryTimeoutMs?: number
  /** GetCommandInvocation polling: first wait, growth 1.5x with jitter, up to the cap (1 s for the first 10 s). Default 200 ms .. 2 s. */
  pollMinMs?: number
  pollMaxMs?: number
  /** Cap for collected stdout/stderr each (not for onStdout/onStderr, nor getFile). Default 1 MiB. */
  outputCapBytes?: number
  /** executionTimeout for commands without a timeoutMs: covers a 40-minute step with room. Default 7200 s. */
  executionTimeoutS?: number
  /** Page or chunk commands in flight at once per host. Default 6. */
  parallel?: number
}

interface Invocation {
  status: string
  details: string
  code: number
  stdout: string
  stderr: string
}

interface Collected {
  code: number
  out: Buffer
  err: Buffer
  truncated: boolean
}

function firstLine(s: string): string {
  return s.split('\n').map((l) => l.trim()).find(Boolean) ?? ''
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

/**
 * Run `fns` at most `n` at a time (a sliding window: the next starts as soon as one
 * ends), handing each result to `each` in the order of `fns`, whichever ends first:
 * pages reach the callbacks and the checksum in stream order. The first failure is
 * thrown at once, and what has not started yet never does.
 */
async function inOrder<T>(fns: Array<() => Promise<T>>, n: number, each?: (r: T) => void): Promise<void> {
  const queue = new PQueue({concurrency: n})
  const failed = queue.onError()
  failed.catch(() => undefined)
  const results = fns.map((f) => queue.add(() => f()))
  for (const r of results) r.catch(() => undefined) // seen through `failed`, or awaited below
  try {
    for (const r of results) {
      const value = await Promise.race([r, failed])
      each?.(value)
    }
  } catch (e) {
    queue.clear()
    throw e
  }
}

/** The same content goes to every host: compress it once (the last few contents kept). */
const gzCache = new Map<string, Buffer>()
function gzipped(buf: Buffer, sum: string): Buffer {
  let gz = gzCache.get(sum)
  if (!gz) {
    gz = gzipSync(buf, {level: 9})
    if (gzCache.size >= 8) gzCache.delete(gzCache.keys().next().value!)
    gzCache.set(sum, gz)
  }
  return gz
}

export class SsmTransport implements Transport {
  /** Output arrives only when a command ends: follow journals by polling. */
  readonly streams = false
  /** Systems Manager has no host key to record. */
  readonly hostKey = undefined
  readonly label: string
  readonly instanceId: string
  readonly context: SsmContext
  /** What Systems Manager said about the instance on connect. */
  info?: InstanceInformation

  private readonly opts: SsmOptions
  private ready = false

  constructor(opts: SsmOptions) {
    this.opts = opts
    this.instanceId = opts.instanceId
    this.label = opts.label ?? opts.instanceId
    this.context = opts.context ?? SsmContext.shared(opts.settings)
  }

  private get deliveryTimeoutMs(): number {
    return this.opts.deliveryTimeoutMs ?? 30_000
  }

  /** Check that Systems Manager manages the instance and its agent is online. */
  async connect(): Promise<void> {
    if (this.ready) return
    let info: InstanceInformation | undefined
    try {
      info = await this.context.describe(this.instanceId)
    } catch (e) {
      // Allowed to run commands but not to list instances: the commands will tell.
      if (errorName(e) === 'AccessDeniedException') {
        this.ready = true
        return
      }
      throw apiError(this.label, 'DescribeInstanceInformation', e)
    }
    if (!info) {
      throw new SsmUnreachableError(
        this.label,
        'dns',
        'not-managed',
        `${this.label}: ${this.instanceId} is not a managed instance of Systems Manager in this region (is it running, with the SSM agent and an instance profile that allows it?)`,
      )
    }
    if (info.PingStatus !== 'Online') {
      const last = info.LastPingDateTime ? ` since ${new Date(info.LastPingDateTime).toISOString()}` : ''
      throw new SsmUnreachableError(this.label, 'network', 'offline', `${this.label}: Systems Manager reports its agent ${info.PingStatus ?? 'not online'}${last}`)
    }
    this.info = info
    this.ready = true
  }

  async close(): Promise<void> {
    this.ready = false
  }

  /** The instance has answered a command: from now on, silence is a lost connection (a reboot), not an unreachable host. */
  private answered = false

  /**
   * SendCommand one script and poll it to a terminal status. Once the instance
   * has answered, a command it does not pick up, or an endpoint we cannot
   * reach, is a ConnectionLostError, like an SSH connection dropped during a
   * reboot: the orchestrator reconnects with backoff and carries on.
   */
  private async invoke(script: string, o: {timeoutMs?: number; signal?: AbortSignal; what: string}): Promise<Invocation> {
    try {
      const inv = await this.invokeOnce(script, o)
      this.answered = true
      return inv
    } catch (e) {
      const transient = e instanceof SsmUnreachableError && (e.problem === 'delivery-timeout' || e.problem === 'endpoint')
      if (!this.answered || !transient) throw e
      this.ready = false // connect() asks Systems Manager about the instance again
      throw new ConnectionLostError(this.label, (e as Error).message.replace(/; its SSM agent is not answering$/, '; it stopped answering (rebooting?)'), {cause: e})
    }
  }

  private async invokeOnce(script: string, o: {timeoutMs?: number; signal?: AbortSignal; what: string}): Promise<Invocation> {
    const bytes = Buffer.byteLength(JSON.stringify(script)) // as it travels: JSON-escaped
    if (bytes > MAX_COMMAND_BYTES) throw new TransportError(this.label, `${this.label}: a command of ${bytes} bytes is too long for Systems Manager (at most ${MAX_COMMAND_BYTES}): ${o.what.slice(0, 80)}`)
    if (o.signal?.aborted) throw new ExecAbortedError(this.label, o.signal.reason)
    const deliveryMs = this.deliveryTimeoutMs
    const executionTimeoutS = o.timeoutMs !== undefined ? Math.ceil(o.timeoutMs / 1000) + 30 : (this.opts.executionTimeoutS ?? 7200)
    let commandId: string
    try {
      commandId = await this.context.send(this.instanceId, {script, executionTimeoutS, deliveryTimeoutS: Math.ceil(deliveryMs / 1000)})
    } catch (e) {
      throw apiError(this.label, 'SendCommand', e)
    }
    const sent = Date.now()
    const min = this.opts.pollMinMs ?? 200
    const max = this.opts.pollMaxMs ?? 2000
    let delay = min
    let started = false
    // Cancelling is best effort; the caller learns of the timeout or abort at once either way.
    const cancel = () => this.context.cancel(commandId, this.instanceId)
    const undelivered = (details: string) =>
      new SsmUnreachableError(
        this.label,
        'timeout',
        'delivery-timeout',
        `${this.label}: the instance did not pick up a command within ${Math.round(deliveryMs / 1000)} s (${details}); its SSM agent is not answering`,
      )
    for (;;) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, delay * (0.8 + Math.random() * 0.4))
        function done() {
          o.signal?.removeEventListener('abort', done)
          clearTimeout(t)
          resolve()
        }
        o.signal?.addEventListener('abort', done, {once: true})
      })
      if (o.signal?.aborted) {
        await cancel()
        throw new ExecAbortedError(this.label, o.signal.reason)
      }
      let status = 'Pending'
      let details = 'Pending'
      let inv: Awaited<ReturnType<SsmContext['getInvocation']>> | undefined
      try {
        inv = await this.context.getInvocation(commandId, this.instanceId)
        status = inv.Status ?? 'Pending'
        details = inv.StatusDetails ?? status
      } catch (e) {
        // The invocation is created a moment after SendCommand returns.
        if (errorName(e) !== 'InvocationDoesNotExist') throw apiError(this.label, 'GetCommandInvocation', e)
      }
      switch (status) {
        case 'Pending':
        case 'Delayed':
          break
        case 'InProgress':
          started = true
          break
        case 'Cancelling':
          break
        case 'Success':
        case 'Failed':
          if (/undeliverable/i.test(details)) {
            throw new SsmUnreachableError(this.label, 'network', 'undeliverable', `${this.label}: Systems Manager could not deliver the command (Undeliverable): the instance is stopped, terminated or not responding`)
          }
          if (/access denied/i.test(details)) throw new SsmUnreachableError(this.label, 'network', 'access-denied', `${this.label}: Systems Manager: Access Denied for this instance`)
          if (/terminated/i.test(details)) throw new SsmUnreachableError(this.label, 'network', 'terminated', `${this.label}: Systems Manager terminated the command (${details})`)
          return {status, details, code: inv?.ResponseCode ?? -1, stdout: inv?.StandardOutputContent ?? '', stderr: inv?.StandardErrorContent ?? ''}
        case 'TimedOut':
          if (/delivery/i.test(details) || !started) throw undelivered(details)
          throw new ExecTimeoutError(this.label, o.what, o.timeoutMs ?? executionTimeoutS * 1000)
        case 'Cancelled':
          throw new TransportError(this.label, `${this.label}: the command was cancelled outside fleet (${details}); its outcome is unknown`)
        default:
          throw new TransportError(this.label, `${this.label}: unknown Run Command status ${status} (${details})`)
      }
      const waited = Date.now() - sent
      if (!started && waited > deliveryMs) {
        await cancel()
        throw undelivered(details)
      }
      if (o.timeoutMs !== undefined && waited > o.timeoutMs) {
        await cancel()
        throw new ExecTimeoutError(this.label, o.what, o.timeoutMs)
      }
      // Most commands end within seconds: poll at most every second for the first 10 s.
      delay = Math.min(waited < 10_000 ? Math.min(max, 1000) : max, delay * 1.5)
    }
  }

  /** Run a command and gather its whole output (paged), or hand it to the callbacks in order. */
  private async run(command: string, opts: ExecOptions, cap: number, what = command): Promise<Collected> {
    let stdin: Parameters<typeof execScript>[1]
    if (opts.stdin !== undefined) {
      const buf = Buffer.from(opts.stdin)
      if (buf.length <= INLINE_STDIN_BYTES) stdin = {inline: buf}
      else {
        const file = `${REMOTE_ROOT}/ssm-stdin-${randomBytes(6).toString('hex')}`
        await this.putFile(buf, file, 0o600)
        stdin = {file}
      }
    }
    const inv = await this.invoke(execScript(command, stdin), {timeoutMs: opts.timeoutMs, signal: opts.signal, what})
    const head = parseExecAnswer(inv.stdout)
    if (!head) {
      const why = `${inv.details}, exit ${inv.code}${firstLine(inv.stderr) ? `: ${firstLine(inv.stderr)}` : ''}`
      // 125: our wrapper could not start (no home, no temp dir): that will not change by trying again.
      if (inv.code === 125) throw new TransportError(this.label, `${this.label}: cannot run commands on the instance (${why})`)
      // Killed under us (a reboot, the SSM agent restarting): like a dropped connection, the outcome is unknown.
      throw new ConnectionLostError(this.label, `${this.label}: the command did not run to its end on the instance (${why}); its outcome is unknown`)
    }
    return this.collect(head, opts, cap)
  }

  /** The rest of both streams after the first answer, page by page; the dir goes with the last page. */
  private async collect(head: ExecHeader, opts: ExecOptions, cap: number): Promise<Collected> {
    const streams = [
      {s: 'o' as const, first: head.outFirst, size: head.outSize, sha: head.outSha, cb: opts.onStdout},
      {s: 'e' as const, first: head.errFirst, size: head.errSize, sha: head.errSha, cb: opts.onStderr},
    ]
    const complete = streams.every((x) => x.first.length === x.size)
    let truncated = false
    const pages: Array<{s: 'o' | 'e'; offset: number; length: number}> = []
    for (const x of streams) {
      const limit = x.cb ? x.size : Math.min(x.size, cap)
      if (limit < x.size) truncated = true
      for (let off = x.first.length; off < limit; off += PAGE_BYTES) pages.push({s: x.s, offset: off, length: Math.min(PAGE_BYTES, limit - off)})
    }
    const parts = {o: [] as Buffer[], e: [] as Buffer[]}
    const deliver = (s: 'o' | 'e', b: Buffer) => {
      const cb = s === 'o' ? opts.onStdout : opts.onStderr
      if (cb) {
        if (b.length) cb(b)
      } else parts[s].push(b)
    }
    deliver('o', head.outFirst.subarray(0, opts.onStdout ? undefined : cap))
    deliver('e', head.errFirst.subarray(0, opts.onStderr ? undefined : cap))
    const hashes = {o: createHash('sha256').update(head.outFirst), e: createHash('sha256').update(head.errFirst)}
    const fetch = (p: {s: 'o' | 'e'; offset: number; length: number}, cleanup: boolean) => async () => {
      const inv = await this.invoke(pageScript(head.dir, p.s, p.offset, p.length, cleanup), {timeoutMs: 120_000, signal: opts.signal, what: `page ${p.offset} of ${head.dir}`})
      const b = Buffer.from(inv.stdout.trim(), 'base64')
      if (inv.code !== 0 || b.length !== p.length) {
        throw new TransportError(this.label, `${this.label}: fetching output page at ${p.offset} failed (${inv.details}, exit ${inv.code}, ${b.length} of ${p.length} bytes${firstLine(inv.stderr) ? `: ${firstLine(inv.stderr)}` : ''})`)
      }
      return {p, b}
    }
    try {
      const lastCleans = !complete && !truncated && pages.length > 0
      const body = lastCleans ? pages.slice(0, -1) : pages
      const got = (r: {p: {s: 'o' | 'e'}; b: Buffer}) => {
        hashes[r.p.s].update(r.b)
        deliver(r.p.s, r.b)
      }
      await inOrder(body.map((p) => fetch(p, false)), this.opts.parallel ?? 6, got)
      if (lastCleans) got(await fetch(pages[pages.length - 1]!, true)())
      else if (!complete) await this.invoke(cleanupScript(head.dir), {timeoutMs: 60_000, what: 'cleanup'}).catch(() => undefined)
    } catch (e) {
      if (!complete) void this.invoke(cleanupScript(head.dir), {timeoutMs: 60_000, what: 'cleanup'}).catch(() => undefined)
      throw e
    }
    for (const x of streams) {
      // '-': it all came in the first answer (its length tells); else the whole stream's sha256.
      const intact = x.sha === '-' ? x.first.length === x.size : truncated || hashes[x.s].digest('hex') === x.sha
      if (!intact) throw new TransportError(this.label, `${this.label}: the command's ${x.s === 'o' ? 'stdout' : 'stderr'} arrived damaged (${x.sha === '-' ? 'length' : 'sha256'} mismatch)`)
    }
    return {code: head.code, out: Buffer.concat(parts.o), err: Buffer.concat(parts.e), truncated}
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.run(command, opts, this.opts.outputCapBytes ?? 1024 * 1024)
    return {code: r.code, stdout: r.out.toString('utf8'), stderr: r.err.toString('utf8'), ...(r.truncated ? {truncated: true} : {})}
  }

  /** exec() that must succeed; its stderr's first line in the error otherwise. Messages name `what`, never the command (it holds file content). */
  private async must(command: string, what: string): Promise<Collected> {
    const r = await this.run(command, {timeoutMs: 300_000}, Number.MAX_SAFE_INTEGER, what)
    if (r.code !== 0) throw new TransportError(this.label, `${this.label}: ${what}: ${firstLine(r.err.toString('utf8')) || `exit code ${r.code}`}`)
    return r
  }

  async putFile(data: Buffer | string, remotePath: string, mode?: number): Promise<void> {
    const buf = typeof data === 'string' ? await readFile(data) : data
    const finalMode = mode ?? (typeof data === 'string' ? (await stat(data)).mode & 0o777 : 0o644)
    await this.upload(buf, {file: remotePath, mode: finalMode}, `putFile ${remotePath}`)
  }

  /**
   * Several files under `remoteDir` in one transfer (a tar, chunked like a
   * file): one round trip for the bundle instead of one per file.
   */
  async putFiles(files: Array<{rel: string; data: Buffer; mode: number}>, remoteDir: string): Promise<void> {
    await this.upload(ustar(files), {untarInto: remoteDir}, `putFiles ${remoteDir} (${files.length} files)`)
  }

  /** gzip + base64, inline when it fits one command, else staged chunks; assembled and checked on the instance. */
  private async upload(buf: Buffer, target: AssembleTarget, what: string): Promise<void> {
    const sum = sha256(buf)
    const gz = gzipped(buf, sum)
    const b64 = gz.toString('base64')
    if (b64.length <= CHUNK_CHARS) {
      await this.must(assembleCommand(sum, target, {inline: b64}), what)
      return
    }
    // Chunks named by the content: the same commands on every instance, so they share SendCommands.
    const key = sha256(gz).slice(0, 32)
    const chunks: string[] = []
    for (let i = 0; i < b64.length; i += CHUNK_CHARS) chunks.push(b64.slice(i, i + CHUNK_CHARS))
    await inOrder(chunks.map((c, i) => () => this.must(chunkCommand(key, i, c), `${what} (chunk ${i + 1} of ${chunks.length})`)), this.opts.parallel ?? 6)
    await this.must(assembleCommand(sum, target, {key, chunks: chunks.length}), what)
  }

  async getFile(remotePath: string, localPath: string): Promise<void> {
    const r = await this.run(readFileCommand(remotePath), {timeoutMs: 600_000}, Number.MAX_SAFE_INTEGER)
    const err = r.err.toString('utf8').trim()
    if (r.code !== 0) throw new TransportError(this.label, `${this.label}: getFile ${remotePath}: ${firstLine(err) || `exit code ${r.code}`}`)
    const mode = parseInt(err.split('\n').pop() ?? '', 8)
    let data: Buffer
    try {
      data = gunzipSync(r.out)
    } catch (e) {
      throw new TransportError(this.label, `${this.label}: getFile ${remotePath}: the content arrived damaged (${(e as Error).message})`)
    }
    await mkdir(dirname(localPath), {recursive: true})
    const tmp = join(dirname(localPath), `.${basename(localPath)}.fleet-${randomBytes(4).toString('hex')}`)
    try {
      await writeFile(tmp, data, {mode: 0o600})
      await chmod(tmp, Number.isInteger(mode) ? mode & 0o777 : 0o644) // never setuid/setgid bits here
      await rename(tmp, localPath)
    } catch (e) {
      await rm(tmp, {force: true})
      throw e
    }
  }
}
