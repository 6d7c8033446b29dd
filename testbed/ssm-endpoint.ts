/**
 * A local AWS Systems Manager endpoint for tests: plain node:http on 127.0.0.1
 * that speaks the protocol @aws-sdk/client-ssm speaks (awsJson1_1: POST /,
 * `X-Amz-Target: AmazonSSM.<Operation>`, `Content-Type: application/x-amz-json-1.1`,
 * a SigV4 Authorization header, errors as HTTP 400 `{"__type", "message"}`),
 * and runs the commands for real on local sandboxed "instances": one Unix
 * account each with its own home (the SSH harness's account machinery), the
 * script run with setpriv as that account, with no HOME and the orchestration
 * dir as working directory, like the SSM agent.
 *
 * Operations: SendCommand, GetCommandInvocation, CancelCommand,
 * DescribeInstanceInformation (InstanceIds, PingStatus, tag:KEY, tag-key filters).
 *
 * The service's habits it reproduces: the signature is checked (shape, scope
 * region/service `REGION/ssm`, and the signature itself with the known secret);
 * at most 50 instance ids per SendCommand; parameters over 64 KB refused
 * (InvalidParameters); InvocationDoesNotExist for the first GetCommandInvocation
 * of every invocation and until it is visible; output only at the end, cut to
 * 24,000 (stdout) and 8,000 (stderr) characters; executionTimeout and
 * TimeoutSeconds; injectable ThrottlingException; and instances that never pick
 * a command up (silent: Pending until TimeoutSeconds, then TimedOut / Delivery
 * Timed Out), that are Undeliverable, offline (ConnectionLost) or denied
 * (AccessDeniedException).
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {createHash, createHmac, randomUUID} from 'node:crypto'
import {chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {processTable, readUid, signalPid} from './machine/procs.js'
import {ensureAccounts} from './machine/users.js'

export type InstanceMode = 'normal' | 'silent' | 'undeliverable' | 'offline' | 'denied'

export interface SsmInstance {
  id: string
  /** Name for the hosts file, e.g. `s001`. */
  name: string
  user: string
  uid: number
  gid: number
  home: string
  mode: InstanceMode
  tags: Record<string, string>
}

export interface SsmEndpointOptions {
  count: number
  /** Account prefix; accounts are `${prefix}001`... Default `fleet-ssm-`. */
  prefix?: string
  region?: string
  accessKeyId?: string
  secretAccessKey?: string
  /** Tags of instance i (0-based). Default {Workshop: 'fleet-test'}. */
  tags?: (i: number) => Record<string, string>
  /** An invocation answers InvocationDoesNotExist for this long after SendCommand (and always on its first poll). Default 200 ms. */
  invisibleMs?: number
  /** An undeliverable instance's invocation turns Failed/Undeliverable after this long. Default 1000 ms. */
  undeliverableMs?: number
  /** Parent of the accounts' homes. */
  homeRoot?: string
}

interface Invocation {
  commandId: string
  instance: SsmInstance
  status: 'Pending' | 'InProgress' | 'Delayed' | 'Success' | 'Cancelled' | 'TimedOut' | 'Failed' | 'Cancelling'
  details: string
  code: number
  stdout: string
  stderr: string
  requested: number
  visibleAt: number
  gets: number
  started?: number
  ended?: number
  child?: ChildProcess
  timers: NodeJS.Timeout[]
}

interface Command {
  id: string
  ids: string[]
  parameters: Record<string, string[]>
  timeoutSeconds: number
  comment?: string
  requested: number
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message)
  }
}

export interface EndpointStats {
  /** Calls per operation (throttled ones included). */
  calls: Record<string, number>
  /** Errors answered, by __type. */
  errors: Record<string, number>
  /** Instance ids in each accepted SendCommand. */
  sendIds: number[]
  /** Largest SendCommand body seen, bytes. */
  maxSendBytes: number
}

export interface SsmEndpoint {
  readonly url: string
  readonly region: string
  readonly instances: SsmInstance[]
  /** Environment for a process using the SDK against this endpoint (fake credentials, no ~/.aws, no IMDS). */
  readonly env: Record<string, string>
  readonly stats: EndpointStats
  /** Answer ThrottlingException to this fraction of calls (of these operations, default all). */
  setThrottle(rate: number, ops?: string[]): void
  setMode(instance: SsmInstance | number, mode: InstanceMode): void
  /** fleet hosts-file lines: `i-... name=s001`. */
  hostsFileText(): string
  /** Remove what fleet left in the homes. */
  resetHomes(): void
  stop(): Promise<void>
}

const ACCOUNT = '123456789012'
const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/
const TERMINAL = new Set(['Success', 'Cancelled', 'TimedOut', 'Failed'])
const MAX_PARAMS_BYTES = 64 * 1024

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

function instanceIdFor(prefix: string, i: number): string {
  const h = createHash('sha256').update(`${prefix}${i}`).digest('hex')
  return `i-0${h.slice(0, 16)}`
}

export async function startSsmEndpoint(opts: SsmEndpointOptions): Promise<SsmEndpoint> {
  if (process.getuid?.() !== 0) throw new Error('the local SSM endpoint needs root: its instances are Unix accounts')
  const prefix = opts.prefix ?? 'fleet-ssm-'
  const region = opts.region ?? 'eu-west-1'
  const accessKeyId = opts.accessKeyId ?? 'AKIAFLEETTESTKEY0001'
  const secretAccessKey = opts.secretAccessKey ?? 'fleet-test-secret-key-not-a-real-one'
  const invisibleMs = opts.invisibleMs ?? 200
  const undeliverableMs = opts.undeliverableMs ?? 1000
  const homeRoot = opts.homeRoot ?? '/var/lib/fleet-localhosts/home'
  const baseDir = mkdtempSync(join(tmpdir(), 'fleet-ssm-endpoint-'))
  chmodSync(baseDir, 0o711) // each instance reaches its own dir inside, nothing else

  const specs = Array.from({length: opts.count}, (_, k) => {
    const digits = String(k + 1).padStart(3, '0')
    return {name: `s${digits}`, user: `${prefix}${digits}`, home: join(homeRoot, `${prefix}${digits}`)}
  })
  mkdirSync(homeRoot, {recursive: true, mode: 0o755})
  const accounts = await ensureAccounts(specs.map((s) => ({name: s.user, home: s.home})))
  const instances: SsmInstance[] = specs.map((s, k) => {
    const acc = accounts.get(s.user)!
    return {id: instanceIdFor(prefix, k + 1), name: s.name, user: s.user, uid: acc.uid, gid: acc.gid, home: s.home, mode: 'normal', tags: opts.tags?.(k) ?? {Workshop: 'fleet-test'}}
  })
  const byId = new Map(instances.map((i) => [i.id, i]))
  const freshHome = (i: SsmInstance) => {
    rmSync(i.home, {recursive: true, force: true})
    mkdirSync(i.home, {recursive: true, mode: 0o755})
    chownSync(i.home, i.uid, i.gid)
    const dir = join(baseDir, i.id)
    rmSync(dir, {recursive: true, force: true})
    mkdirSync(dir, {recursive: true, mode: 0o700})
    chownSync(dir, i.uid, i.gid)
  }
  instances.forEach(freshHome)

  const commands = new Map<string, Command>()
  const invocations = new Map<string, Invocation>() // `${commandId}/${instanceId}`
  const stats: EndpointStats = {calls: {}, errors: {}, sendIds: [], maxSendBytes: 0}
  // Deterministic: exactly `rate` of the eligible calls are throttled (every 1/rate-th), so tests that count them cannot flake.
  let throttle = {rate: 0, ops: undefined as string[] | undefined, seen: 0}

  const finish = (inv: Invocation, status: Invocation['status'], details: string, code = inv.code) => {
    if (TERMINAL.has(inv.status)) return
    inv.status = status
    inv.details = details
    inv.code = code
    inv.ended = Date.now()
    for (const t of inv.timers) clearTimeout(t)
  }

  const killGroup = (inv: Invocation) => {
    if (inv.child?.pid && inv.child.exitCode === null && inv.child.signalCode === null) {
      try {
        process.kill(-inv.child.pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
  }

  /** Run the invocation's script as the instance's account, output to files, like the SSM agent. */
  const execute = (inv: Invocation, cmd: Command) => {
    const i = inv.instance
    inv.status = 'InProgress'
    inv.details = 'In Progress'
    inv.started = Date.now()
    const dir = join(baseDir, i.id, 'document', 'orchestration', cmd.id, 'awsrunShellScript', '0.awsrunShellScript')
    mkdirSync(dir, {recursive: true, mode: 0o700})
    for (let d = dir; d.startsWith(join(baseDir, i.id)) && d !== join(baseDir, i.id); d = join(d, '..')) chownSync(d, i.uid, i.gid)
    const script = join(dir, '_script.sh')
    writeFileSync(script, (cmd.parameters.commands ?? []).join('\n') + '\n', {mode: 0o700})
    chownSync(script, i.uid, i.gid)
    const out = openSync(join(dir, 'stdout'), 'w', 0o600)
    const err = openSync(join(dir, 'stderr'), 'w', 0o600)
    let child: ChildProcess
    try {
      child = spawn('/usr/bin/setpriv', [`--reuid=${i.uid}`, `--regid=${i.gid}`, '--init-groups', '--', '/bin/sh', script], {
        cwd: dir,
        detached: true,
        stdio: ['ignore', out, err],
        env: {PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8'},
      })
    } finally {
      closeSync(out)
      closeSync(err)
    }
    inv.child = child
    const execTimeout = Number(cmd.parameters.executionTimeout?.[0] ?? 3600)
    inv.timers.push(
      setTimeout(() => {
        killGroup(inv)
        inv.details = 'Execution Timed Out'
        inv.status = 'TimedOut'
      }, execTimeout * 1000),
    )
    child.on('exit', (code, signal) => {
      // Leftovers of the script's process group go with it (a detached agent has its own session).
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // none
      }
      inv.stdout = readFileSync(join(dir, 'stdout'), 'utf8').slice(0, 24_000)
      inv.stderr = readFileSync(join(dir, 'stderr'), 'utf8').slice(0, 8_000)
      if (inv.status === 'Cancelling') return finish(inv, 'Cancelled', 'Cancelled', -1)
      if (inv.status === 'TimedOut') {
        inv.status = 'InProgress'
        return finish(inv, 'TimedOut', 'Execution Timed Out', -1)
      }
      const rc = code ?? 128 + (signal ? 9 : 0)
      finish(inv, rc === 0 ? 'Success' : 'Failed', rc === 0 ? 'Success' : 'Failed', rc)
    })
    child.on('error', (e) => {
      inv.stderr = String(e)
      finish(inv, 'Failed', 'Failed', 1)
    })
  }

  const ops: Record<string, (body: Record<string, unknown>) => unknown> = {
    SendCommand(body) {
      const doc = body.DocumentName
      if (typeof doc !== 'string') throw new ApiError('ValidationException', "1 validation error detected: Value null at 'documentName' failed to satisfy constraint: Member must not be null")
      if (doc !== 'AWS-RunShellScript') throw new ApiError('InvalidDocument', `Document with name ${doc} does not exist.`)
      if (body.Targets) throw new ApiError('InvalidParameters', 'this endpoint takes InstanceIds, not Targets')
      const ids = body.InstanceIds
      if (!Array.isArray(ids) || ids.length === 0) throw new ApiError('ValidationException', "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length greater than or equal to 1")
      if (ids.length > 50) throw new ApiError('ValidationException', `1 validation error detected: Value '[${ids.join(', ')}]' at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50`)
      const params = (body.Parameters ?? {}) as Record<string, string[]>
      if (!Array.isArray(params.commands) || !params.commands.every((c) => typeof c === 'string')) throw new ApiError('InvalidParameters', 'Parameter "commands" is required and must be a list of strings.')
      for (const k of Object.keys(params)) if (!['commands', 'executionTimeout', 'workingDirectory'].includes(k)) throw new ApiError('InvalidParameters', `Parameter "${k}" is not defined in document AWS-RunShellScript.`)
      const size = Buffer.byteLength(JSON.stringify(params))
      if (size > MAX_PARAMS_BYTES) throw new ApiError('InvalidParameters', `Parameters exceed the maximum size of 64 KB (${size} bytes).`)
      const et = params.executionTimeout?.[0]
      if (et !== undefined && !(/^\d+$/.test(et) && Number(et) >= 1 && Number(et) <= 172800)) throw new ApiError('InvalidParameters', `Parameter "executionTimeout" must be a whole number of seconds from 1 to 172800, got ${et}.`)
      const timeoutSeconds = body.TimeoutSeconds === undefined ? 3600 : Number(body.TimeoutSeconds)
      if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 30 || timeoutSeconds > 2592000) throw new ApiError('ValidationException', `1 validation error detected: Value '${body.TimeoutSeconds}' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000`)
      const unknown = (ids as string[]).filter((id) => !byId.has(id))
      if (unknown.length) throw new ApiError('InvalidInstanceId', `Instances [[${unknown.join(', ')}]] not in a valid state for account ${ACCOUNT}`)
      const denied = (ids as string[]).find((id) => byId.get(id)!.mode === 'denied')
      if (denied) throw new ApiError('AccessDeniedException', `User: arn:aws:iam::${ACCOUNT}:user/fleet is not authorized to perform: ssm:SendCommand on resource: arn:aws:ec2:${region}:${ACCOUNT}:instance/${denied} because no identity-based policy allows the ssm:SendCommand action`)
      const now = Date.now()
      const cmd: Command = {id: randomUUID(), ids: ids as string[], parameters: params, timeoutSeconds, comment: body.Comment as string | undefined, requested: now}
      commands.set(cmd.id, cmd)
      stats.sendIds.push(ids.length)
      for (const id of cmd.ids) {
        const instance = byId.get(id)!
        const inv: Invocation = {commandId: cmd.id, instance, status: 'Pending', details: 'Pending', code: -1, stdout: '', stderr: '', requested: now, visibleAt: now + invisibleMs, gets: 0, timers: []}
        invocations.set(`${cmd.id}/${id}`, inv)
        if (instance.mode === 'normal') inv.timers.push(setTimeout(() => inv.status === 'Pending' && execute(inv, cmd), 10 + Math.random() * 20))
        else if (instance.mode === 'undeliverable') inv.timers.push(setTimeout(() => finish(inv, 'Failed', 'Undeliverable'), undeliverableMs))
        else inv.timers.push(setTimeout(() => finish(inv, 'TimedOut', 'Delivery Timed Out'), timeoutSeconds * 1000))
      }
      return {
        Command: {
          CommandId: cmd.id,
          DocumentName: doc,
          DocumentVersion: '$DEFAULT',
          Comment: cmd.comment ?? '',
          ExpiresAfter: (now + timeoutSeconds * 1000) / 1000,
          Parameters: params,
          InstanceIds: cmd.ids,
          Targets: [],
          RequestedDateTime: now / 1000,
          Status: 'Pending',
          StatusDetails: 'Pending',
          OutputS3Region: region,
          MaxConcurrency: '50',
          MaxErrors: '0',
          TargetCount: cmd.ids.length,
          CompletedCount: 0,
          ErrorCount: 0,
          DeliveryTimedOutCount: 0,
          ServiceRole: '',
          NotificationConfig: {NotificationArn: '', NotificationEvents: [], NotificationType: ''},
          CloudWatchOutputConfig: {CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false},
          TimeoutSeconds: timeoutSeconds,
        },
      }
    },

    GetCommandInvocation(body) {
      const cid = body.CommandId
      const iid = body.InstanceId
      if (typeof cid !== 'string' || typeof iid !== 'string') throw new ApiError('ValidationException', 'CommandId and InstanceId are required')
      const inv = invocations.get(`${cid}/${iid}`)
      if (!inv) throw new ApiError('InvocationDoesNotExist', '')
      inv.gets++
      if (inv.gets === 1 || Date.now() < inv.visibleAt) throw new ApiError('InvocationDoesNotExist', '')
      const iso = (t?: number) => (t ? new Date(t).toISOString().replace(/\.\d+Z$/, 'Z') : '')
      const ended = TERMINAL.has(inv.status)
      return {
        CommandId: cid,
        InstanceId: iid,
        Comment: commands.get(cid)?.comment ?? '',
        DocumentName: 'AWS-RunShellScript',
        DocumentVersion: '$DEFAULT',
        PluginName: 'aws:runShellScript',
        ResponseCode: inv.code,
        ExecutionStartDateTime: iso(inv.started),
        ExecutionElapsedTime: inv.started ? `PT${(((inv.ended ?? Date.now()) - inv.started) / 1000).toFixed(3)}S` : '',
        ExecutionEndDateTime: iso(inv.ended),
        Status: inv.status,
        StatusDetails: inv.details,
        StandardOutputContent: ended ? inv.stdout : '',
        StandardOutputUrl: '',
        StandardErrorContent: ended ? inv.stderr : '',
        StandardErrorUrl: '',
        CloudWatchOutputConfig: {CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false},
      }
    },

    CancelCommand(body) {
      const cmd = typeof body.CommandId === 'string' ? commands.get(body.CommandId) : undefined
      if (!cmd) throw new ApiError('InvalidCommandId', '')
      const ids = Array.isArray(body.InstanceIds) && body.InstanceIds.length ? (body.InstanceIds as string[]) : cmd.ids
      for (const id of ids) {
        const inv = invocations.get(`${cmd.id}/${id}`)
        if (!inv || TERMINAL.has(inv.status)) continue
        if (inv.status === 'InProgress') {
          inv.status = 'Cancelling'
          inv.details = 'Cancelling'
          killGroup(inv)
        } else finish(inv, 'Cancelled', 'Cancelled')
      }
      return {}
    },

    DescribeInstanceInformation(body) {
      const max = body.MaxResults === undefined ? 50 : Number(body.MaxResults)
      if (!Number.isInteger(max) || max < 5 || max > 50) throw new ApiError('ValidationException', `1 validation error detected: Value '${body.MaxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and 50`)
      let list = instances
      for (const f of (body.Filters ?? []) as Array<{Key: string; Values: string[]}>) {
        const values = new Set(f.Values ?? [])
        if (f.Key === 'InstanceIds') list = list.filter((i) => values.has(i.id))
        else if (f.Key === 'PingStatus') list = list.filter((i) => values.has(i.mode === 'offline' ? 'ConnectionLost' : 'Online'))
        else if (f.Key === 'tag-key') list = list.filter((i) => Object.keys(i.tags).some((k) => values.has(k)))
        else if (f.Key.startsWith('tag:')) list = list.filter((i) => values.has(i.tags[f.Key.slice(4)] ?? '\0'))
        else throw new ApiError('InvalidFilterKey', `The filter key ${f.Key} is not valid.`)
      }
      const start = body.NextToken ? Number(Buffer.from(String(body.NextToken), 'base64').toString()) : 0
      if (!Number.isInteger(start)) throw new ApiError('InvalidNextToken', 'The specified token is not valid.')
      const page = list.slice(start, start + max)
      return {
        InstanceInformationList: page.map((i) => ({
          InstanceId: i.id,
          PingStatus: i.mode === 'offline' ? 'ConnectionLost' : 'Online',
          LastPingDateTime: (Date.now() - (i.mode === 'offline' ? 3_600_000 : 5_000)) / 1000,
          AgentVersion: '3.3.0.0',
          IsLatestVersion: false,
          PlatformType: 'Linux',
          PlatformName: 'Debian GNU/Linux',
          PlatformVersion: '12',
          ResourceType: 'EC2Instance',
          IPAddress: '127.0.0.1',
          ComputerName: i.user,
          SourceId: i.id,
          SourceType: 'AWS::EC2::Instance',
        })),
        ...(start + max < list.length ? {NextToken: Buffer.from(String(start + max)).toString('base64')} : {}),
      }
    },
  }

  /** SigV4: shape, scope `DATE/REGION/ssm/aws4_request`, and the signature with the known secret. */
  const checkSignature = (req: IncomingMessage, body: Buffer): void => {
    const auth = req.headers.authorization
    if (!auth) throw new ApiError('MissingAuthenticationTokenException', 'Missing Authentication Token')
    const m = AUTH_RE.exec(auth)
    if (!m) throw new ApiError('IncompleteSignatureException', `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters; got: ${auth.slice(0, 60)}...`)
    const [, keyId, date, scopeRegion, service, signedHeaders, signature] = m
    if (service !== 'ssm') throw new ApiError('InvalidSignatureException', `Credential should be scoped to correct service: 'ssm'.`)
    if (scopeRegion !== region) throw new ApiError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${scopeRegion}'.`)
    if (keyId !== accessKeyId) throw new ApiError('UnrecognizedClientException', 'The security token included in the request is invalid.')
    const amzDate = String(req.headers['x-amz-date'] ?? '')
    if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) throw new ApiError('IncompleteSignatureException', 'X-Amz-Date is missing or does not match the credential scope date')
    const names = signedHeaders!.split(';')
    if (!names.includes('host') || !names.includes('x-amz-date')) throw new ApiError('InvalidSignatureException', 'host and x-amz-date must be signed')
    const canonicalHeaders = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('')
    const payloadHash = String(req.headers['x-amz-content-sha256'] ?? createHash('sha256').update(body).digest('hex'))
    const canonical = ['POST', req.url?.split('?')[0] || '/', req.url?.split('?')[1] ?? '', canonicalHeaders, signedHeaders, payloadHash].join('\n')
    const scope = `${date}/${region}/ssm/aws4_request`
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
    const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date!), region), 'ssm'), 'aws4_request')
    if (hmac(key, toSign).toString('hex') !== signature) {
      throw new ApiError('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.')
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    const reply = (status: number, value: unknown) => {
      const text = JSON.stringify(value)
      res.writeHead(status, {'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': randomUUID(), 'Content-Length': Buffer.byteLength(text)})
      res.end(text)
    }
    let op = '?'
    try {
      if (req.method !== 'POST') throw new ApiError('UnknownOperationException', 'POST only', 404)
      const target = String(req.headers['x-amz-target'] ?? '')
      const t = /^AmazonSSM\.([A-Za-z]+)$/.exec(target)
      if (!t) throw new ApiError('UnknownOperationException', `bad X-Amz-Target: ${target}`)
      op = t[1]!
      stats.calls[op] = (stats.calls[op] ?? 0) + 1
      if (req.headers['content-type'] !== 'application/x-amz-json-1.1') throw new ApiError('SerializationException', `Content-Type must be application/x-amz-json-1.1, got ${req.headers['content-type']}`)
      checkSignature(req, body)
      if (op === 'SendCommand') stats.maxSendBytes = Math.max(stats.maxSendBytes, body.length)
      if (throttle.rate > 0 && (!throttle.ops || throttle.ops.includes(op)) && Math.floor(++throttle.seen * throttle.rate) > Math.floor((throttle.seen - 1) * throttle.rate)) throw new ApiError('ThrottlingException', 'Rate exceeded')
      const fn = ops[op]
      if (!fn) throw new ApiError('UnknownOperationException', `${op} is not implemented by this endpoint`)
      let parsed: Record<string, unknown>
      try {
        parsed = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {}
      } catch {
        throw new ApiError('SerializationException', 'body is not JSON')
      }
      reply(200, fn(parsed))
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError('InternalServerError', String((e as Error).stack ?? e), 500)
      stats.errors[err.type] = (stats.errors[err.type] ?? 0) + 1
      reply(err.status, {__type: err.type, message: err.message})
    }
  }

  const server: Server = createServer((req, res) => void handle(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  const url = `http://127.0.0.1:${port}`

  return {
    url,
    region,
    instances,
    stats,
    env: {
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_REGION: region,
      AWS_CONFIG_FILE: join(baseDir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(baseDir, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      FLEET_SSM_ENDPOINT: url,
    },
    setThrottle(rate, only) {
      throttle = {rate, ops: only, seen: 0}
    },
    setMode(ref, mode) {
      const i = typeof ref === 'number' ? instances[ref]! : ref
      i.mode = mode
    },
    hostsFileText() {
      return instances.map((i) => `${i.id} name=${i.name}\n`).join('')
    },
    resetHomes() {
      killAccountProcesses(instances)
      instances.forEach(freshHome)
    },
    async stop() {
      for (const inv of invocations.values()) {
        for (const t of inv.timers) clearTimeout(t)
        killGroup(inv)
      }
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
      killAccountProcesses(instances)
      for (const i of instances) rmSync(i.home, {recursive: true, force: true})
      rmSync(baseDir, {recursive: true, force: true})
    },
  }
}

/** SIGKILL every process running as one of the instances' accounts (detached agents, stray jobs). */
function killAccountProcesses(instances: SsmInstance[]): void {
  const uids = new Set(instances.map((i) => i.uid))
  for (const p of processTable().values()) {
    const uid = readUid(p.pid)
    if (uid !== undefined && uids.has(uid)) signalPid(p.pid, 'SIGKILL')
  }
}
