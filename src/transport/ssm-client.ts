/**
 * The instructor's side of AWS Systems Manager, shared by every SSM host of a
 * fleet run: one SSMClient (region, profile and credentials from the SDK's
 * usual chain, overridden by --region/--profile), retries of throttled calls
 * with jittered backoff, and batching: the same command for several instances
 * within a few milliseconds goes out as one SendCommand with up to 50 instance
 * ids (probes, bundle chunks), and instance lookups go out 50 at a time.
 */
import type {GetCommandInvocationCommandOutput, InstanceInformation, SSMClient} from '@aws-sdk/client-ssm'

import {UserError} from '../errors/user-error.js'
import {TransportError, UnreachableError, type UnreachableReason} from './errors.js'

/** SendCommand takes at most 50 instance ids; so does our DescribeInstanceInformation filter. */
const MAX_IDS_PER_CALL = 50

export interface SsmSettings {
  /** Default: the SDK's chain (AWS_REGION, AWS_DEFAULT_REGION, the profile's region in ~/.aws/config). */
  region?: string
  /** Default: AWS_PROFILE, else "default". */
  profile?: string
  /** Another endpoint (tests: a local one). Default: FLEET_SSM_ENDPOINT, else the SDK's (AWS_ENDPOINT_URL_SSM, else AWS). */
  endpoint?: string
  /** How long a command waits for others to share its SendCommand. Default 40 ms. */
  batchWindowMs?: number
  /** Retries of throttled (and 5xx, network) calls. Default 10 attempts, 200 ms base, 10 s cap, full jitter. */
  retryAttempts?: number
  retryBaseMs?: number
  retryMaxMs?: number
}

/** Why an SSM instance is unreachable, beyond the generic reason. */
export type SsmProblem = 'not-managed' | 'offline' | 'undeliverable' | 'access-denied' | 'delivery-timeout' | 'terminated' | 'endpoint'

/** An SSM instance fleet cannot reach, with the service's reason. */
export class SsmUnreachableError extends UnreachableError {
  readonly problem: SsmProblem
  constructor(host: string, reason: UnreachableReason, problem: SsmProblem, message: string, options?: {cause?: unknown}) {
    super(host, reason, message, options)
    this.name = 'SsmUnreachableError'
    this.problem = problem
  }
}

export interface SsmStats {
  sendCommandCalls: number
  /** Instance ids in each SendCommand call. */
  idsPerSend: number[]
  getInvocationCalls: number
  describeCalls: number
  throttled: number
}

const THROTTLE_NAMES = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'ProvisionedThroughputExceededException'])
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'])

type AwsError = Error & {name: string; $fault?: string; $metadata?: {httpStatusCode?: number}; code?: string; $retryable?: {throttling?: boolean}}

function isThrottle(e: unknown): boolean {
  const err = e as AwsError
  return !!err && (THROTTLE_NAMES.has(err.name) || err.$retryable?.throttling === true || err.$metadata?.httpStatusCode === 429)
}

function isTransient(e: unknown): boolean {
  const err = e as AwsError
  if (!err) return false
  if (err.$fault === 'server' || (err.$metadata?.httpStatusCode ?? 0) >= 500 || err.name === 'TimeoutError') return true
  return !!err.code && NETWORK_CODES.has(err.code)
}

export function errorName(e: unknown): string {
  return (e as AwsError)?.name ?? ''
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Sdk = typeof import('@aws-sdk/client-ssm')
let sdkP: Promise<Sdk> | undefined
/** The SDK takes ~0.6 s to load: only when an SSM host is actually reached. */
function loadSdk(): Promise<Sdk> {
  return (sdkP ??= import('@aws-sdk/client-ssm'))
}

/** Groups requests with the same key that arrive within a window; flushes at `max` items. */
class Batcher<T, R> {
  private open = new Map<string, {items: T[]; waiters: Array<{resolve: (r: R) => void; reject: (e: unknown) => void}>; timer: NodeJS.Timeout}>()
  constructor(
    private readonly windowMs: number,
    private readonly max: number,
    private readonly flushFn: (key: string, items: T[]) => Promise<Array<R | Error>>,
  ) {}

  add(key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let batch = this.open.get(key)
      if (!batch) {
        batch = {items: [], waiters: [], timer: setTimeout(() => this.flush(key), this.windowMs)}
        this.open.set(key, batch)
      }
      batch.items.push(item)
      batch.waiters.push({resolve, reject})
      if (batch.items.length >= this.max) this.flush(key)
    })
  }

  private flush(key: string): void {
    const batch = this.open.get(key)
    if (!batch) return
    this.open.delete(key)
    clearTimeout(batch.timer)
    this.flushFn(key, batch.items).then(
      (results) => batch.waiters.forEach((w, i) => (results[i] instanceof Error ? w.reject(results[i]) : w.resolve(results[i] as R))),
      (err) => batch.waiters.forEach((w) => w.reject(err)),
    )
  }
}

export interface SendRequest {
  /** The script: AWS-RunShellScript's `commands`, one element. */
  script: string
  /** AWS-RunShellScript's `executionTimeout`, seconds. */
  executionTimeoutS: number
  /** SendCommand's TimeoutSeconds: how long the service tries to deliver (30 at least). */
  deliveryTimeoutS: number
}

export class SsmContext {
  readonly settings: SsmSettings
  private apiP?: Promise<{sdk: Sdk; client: SSMClient}>
  readonly stats: SsmStats = {sendCommandCalls: 0, idsPerSend: [], getInvocationCalls: 0, describeCalls: 0, throttled: 0}
  private readonly sends: Batcher<string, string>
  private readonly describes: Batcher<string, InstanceInformation | undefined>

  constructor(settings: SsmSettings = {}) {
    this.settings = settings
    const window = settings.batchWindowMs ?? 40
    this.sends = new Batcher(window, MAX_IDS_PER_CALL, (key, ids) => this.flushSend(JSON.parse(key) as SendRequest, ids))
    this.describes = new Batcher(window, MAX_IDS_PER_CALL, (_key, ids) => this.flushDescribe(ids))
  }

  /** The SDK and one SSMClient, made on first use. */
  api(): Promise<{sdk: Sdk; client: SSMClient}> {
    return (this.apiP ??= (async () => {
      const endpoint = this.settings.endpoint ?? (process.env.FLEET_SSM_ENDPOINT || undefined)
      // fleet runs on Node.js 20 on purpose; the SDK's "Node.js 22 from 2027" notice would print on every run.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
      const sdk = await loadSdk()
      const client = new sdk.SSMClient({
        ...(this.settings.region ? {region: this.settings.region} : {}),
        ...(this.settings.profile ? {profile: this.settings.profile} : {}),
        ...(endpoint ? {endpoint} : {}),
        // Retries are ours (call()): throttling with jittered backoff, visible in stats.
        maxAttempts: 1,
        requestHandler: {connectionTimeout: 10_000, requestTimeout: 30_000},
      })
      return {sdk, client}
    })())
  }

  private static cache = new Map<string, SsmContext>()

  /** One context per region/profile/endpoint in this process, so every host shares the batchers. */
  static shared(settings: SsmSettings = {}): SsmContext {
    const key = JSON.stringify([settings.region, settings.profile, settings.endpoint ?? process.env.FLEET_SSM_ENDPOINT, settings.batchWindowMs])
    let ctx = SsmContext.cache.get(key)
    if (!ctx) SsmContext.cache.set(key, (ctx = new SsmContext(settings)))
    return ctx
  }

  /** Region and credentials resolve; a UserError saying what to set when they do not. */
  async check(): Promise<{region: string}> {
    const {client} = await this.api()
    let region: string
    try {
      region = await client.config.region()
    } catch {
      region = ''
    }
    if (!region) throw new UserError('AWS Systems Manager: no AWS region; give --region, or set AWS_REGION, or a region for the profile in ~/.aws/config.')
    try {
      const creds = await client.config.credentials()
      if (!creds?.accessKeyId) throw new Error('empty credentials')
    } catch (e) {
      throw new UserError(`AWS Systems Manager: no AWS credentials (${(e as Error).message.split('\n')[0]}); set AWS_PROFILE or give --profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`)
    }
    return {region}
  }

  /**
   * One API call, retried while the service throttles (or has a 5xx, or the
   * network hiccups), with exponential backoff and full jitter.
   */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    const attempts = this.settings.retryAttempts ?? 10
    const base = this.settings.retryBaseMs ?? 200
    const cap = this.settings.retryMaxMs ?? 10_000
    for (let n = 1; ; n++) {
      try {
        return await fn()
      } catch (e) {
        const throttled = isThrottle(e)
        if (throttled) this.stats.throttled++
        if ((!throttled && !isTransient(e)) || n >= attempts) throw e
        await sleep(Math.random() * Math.min(cap, base * 2 ** (n - 1)))
      }
    }
  }

  /** Send `req` to one instance (sharing a SendCommand with other instances that send the same); resolves to the CommandId. */
  send(instanceId: string, req: SendRequest): Promise<string> {
    return this.sends.add(JSON.stringify(req), instanceId)
  }

  private async sendOnce(req: SendRequest, ids: string[]): Promise<string> {
    const {sdk, client} = await this.api()
    this.stats.sendCommandCalls++
    this.stats.idsPerSend.push(ids.length)
    const out = await client.send(
      new sdk.SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: ids,
        Parameters: {commands: [req.script], executionTimeout: [String(req.executionTimeoutS)]},
        TimeoutSeconds: Math.max(30, req.deliveryTimeoutS),
        Comment: 'fleet',
      }),
    )
    const id = out.Command?.CommandId
    if (!id) throw new Error('SendCommand returned no CommandId')
    return id
  }

  private async flushSend(req: SendRequest, ids: string[]): Promise<Array<string | Error>> {
    try {
      const id = await this.call(() => this.sendOnce(req, ids))
      return ids.map(() => id)
    } catch (e) {
      // One bad or forbidden instance refuses the whole call: send to each alone so only it fails.
      if (ids.length > 1 && ['InvalidInstanceId', 'AccessDeniedException'].includes(errorName(e))) {
        return Promise.all(ids.map((id) => this.call(() => this.sendOnce(req, [id])).catch((err: unknown) => err as Error)))
      }
      return ids.map(() => e as Error)
    }
  }

  async getInvocation(commandId: string, instanceId: string): Promise<GetCommandInvocationCommandOutput> {
    const {sdk, client} = await this.api()
    return this.call(() => {
      this.stats.getInvocationCalls++
      return client.send(new sdk.GetCommandInvocationCommand({CommandId: commandId, InstanceId: instanceId}))
    })
  }

  async cancel(commandId: string, instanceId: string): Promise<void> {
    const {sdk, client} = await this.api()
    await this.call(() => client.send(new sdk.CancelCommandCommand({CommandId: commandId, InstanceIds: [instanceId]}))).catch(() => undefined)
  }

  /** The instance as Systems Manager knows it (undefined: not a managed instance in this region). */
  describe(instanceId: string): Promise<InstanceInformation | undefined> {
    return this.describes.add('', instanceId)
  }

  private async flushDescribe(ids: string[]): Promise<Array<InstanceInformation | undefined | Error>> {
    const {sdk, client} = await this.api()
    const found = new Map<string, InstanceInformation>()
    let token: string | undefined
    do {
      const out = await this.call(() => {
        this.stats.describeCalls++
        return client.send(new sdk.DescribeInstanceInformationCommand({Filters: [{Key: 'InstanceIds', Values: ids}], MaxResults: 50, NextToken: token}))
      })
      for (const info of out.InstanceInformationList ?? []) if (info.InstanceId) found.set(info.InstanceId, info)
      token = out.NextToken
    } while (token)
    return ids.map((id) => found.get(id))
  }

  /** Every managed instance with tag `key` set to one of `values`. */
  async instancesWithTag(key: string, values: string[]): Promise<InstanceInformation[]> {
    const {sdk, client} = await this.api()
    const all: InstanceInformation[] = []
    let token: string | undefined
    do {
      const out = await this.call(() => {
        this.stats.describeCalls++
        return client.send(new sdk.DescribeInstanceInformationCommand({Filters: [{Key: `tag:${key}`, Values: values}], MaxResults: 50, NextToken: token}))
      })
      all.push(...(out.InstanceInformationList ?? []))
      token = out.NextToken
    } while (token)
    return all
  }
}

/**
 * An API error as a transport error of `label`: access denied and an
 * unreachable endpoint make the host unreachable, with the service's words.
 */
export function apiError(label: string, what: string, e: unknown): TransportError {
  if (e instanceof TransportError) return e
  const err = e as AwsError
  const msg = (err?.message ?? String(e)).split('\n')[0]
  if (err?.name === 'AccessDeniedException') return new SsmUnreachableError(label, 'network', 'access-denied', `${label}: Systems Manager denied ${what}: ${msg}`, {cause: e})
  if (err?.name === 'InvalidInstanceId') return new SsmUnreachableError(label, 'network', 'not-managed', `${label}: Systems Manager cannot run commands on it (InvalidInstanceId: ${msg}); is the instance running, with the SSM agent online in this region?`, {cause: e})
  if ((err?.code && NETWORK_CODES.has(err.code)) || err?.name === 'TimeoutError') return new SsmUnreachableError(label, 'network', 'endpoint', `${label}: cannot reach the Systems Manager endpoint (${err.code ?? err.name}) for ${what}`, {cause: e})
  if (isThrottle(e)) return new TransportError(label, `${label}: Systems Manager kept throttling ${what} (${msg})`, {cause: e})
  return new TransportError(label, `${label}: Systems Manager ${what} failed: ${err?.name ? `${err.name}: ` : ''}${msg}`, {cause: e})
}
