/**
 * The SSM transport with the real @aws-sdk/client-ssm against a local endpoint
 * that speaks the SSM protocol and runs commands for real in sandboxed
 * instances (testbed/ssm-endpoint.ts). Not AWS: see the endpoint's notes.
 */
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {SendCommandCommand, SSMClient} from '@aws-sdk/client-ssm'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {tarCommand} from '../../src/logs/remote-tar.js'
import {fetchArchive} from '../../src/logs/fetch.js'
import {ConnectionLostError, ExecAbortedError, ExecTimeoutError, TransportError, UnreachableError} from '../../src/transport/errors.js'
import {SsmContext, SsmTransport, SsmUnreachableError} from '../../src/transport/ssm.js'
import {assembleCommand} from '../../src/transport/ssm-wire.js'
import {tempDir} from '../helpers/agent-cli.js'
import {startSsmEndpoint, type SsmEndpoint} from '../../testbed/ssm-endpoint.js'

const COUNT = 52 // more than one SendCommand's 50 ids
let ep: SsmEndpoint
let ctx: SsmContext
let dir: string

function transport(i: number, extra: Partial<ConstructorParameters<typeof SsmTransport>[0]> = {}): SsmTransport {
  return new SsmTransport({instanceId: ep.instances[i]!.id, label: ep.instances[i]!.name, context: ctx, pollMinMs: 100, pollMaxMs: 500, deliveryTimeoutMs: 30_000, ...extra})
}

beforeAll(async () => {
  ep = await startSsmEndpoint({count: COUNT, prefix: 'fleet-sst-', tags: (i) => ({Workshop: i < 3 ? 'alpha' : 'beta'})})
  Object.assign(process.env, ep.env)
  dir = tempDir()
}, 120_000)

afterAll(async () => {
  await ep?.stop()
})

beforeEach(() => {
  ctx = new SsmContext({endpoint: ep.url, retryBaseMs: 20, retryMaxMs: 200})
  ep.setThrottle(0)
})

describe('SSM transport against a local SSM endpoint', () => {
  it('exec: output, exit codes, quoting, stdin, a login-like environment; InvocationDoesNotExist after SendCommand is pending', async () => {
    const t = transport(0)
    await t.connect()
    const errorsBefore = ep.stats.errors.InvocationDoesNotExist ?? 0
    const r = await t.exec(`printf '%s|' "a b" 'it'"'"'s' "$HOME" "$(pwd)" "$(id -un)"; echo oops >&2; exit 3`)
    const home = ep.instances[0]!.home
    expect(r).toEqual({code: 3, stdout: `a b|it's|${home}|${home}|${ep.instances[0]!.user}|`, stderr: 'oops\n'})
    expect((await t.exec('true')).code).toBe(0)
    expect((await t.exec('no-such-command-here')).code).toBe(127)
    expect((await t.exec('tr a-z A-Z', {stdin: 'hello\n'})).stdout).toBe('HELLO\n')
    const bigIn = randomBytes(50_000).toString('hex') // over the inline limit: goes up as a file first
    expect((await t.exec('sha256sum | cut -c1-64', {stdin: bigIn})).stdout.trim()).toBe(execFileSync('sha256sum', {input: bigIn}).toString().slice(0, 64))
    // Every invocation's first GetCommandInvocation answered InvocationDoesNotExist, and it still worked.
    expect((ep.stats.errors.InvocationDoesNotExist ?? 0) - errorsBefore).toBeGreaterThanOrEqual(5)
  })

  it('output far beyond the 24,000-character cut arrives whole, collected or streamed, text or binary', async () => {
    const t = transport(1)
    const expected = execFileSync('seq', ['1', '25000']).toString() // 138,894 bytes
    const r = await t.exec('seq 1 25000; seq 1 9000 >&2')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(expected)
    expect(r.stderr).toBe(execFileSync('seq', ['1', '9000']).toString())
    const sends = ctx.stats.sendCommandCalls
    expect(sends).toBeGreaterThan(8) // paged: 139 KB / 17.7 KB a page

    // Streamed to onStdout in order, binary-safe.
    const data = randomBytes(80_000)
    await t.putFile(data, 'blob.bin')
    const parts: Buffer[] = []
    const s = await t.exec('cat blob.bin', {onStdout: (b) => parts.push(b)})
    expect(s.stdout).toBe('')
    expect(Buffer.concat(parts).equals(data)).toBe(true)

    // The collected cap holds like SSH's.
    const capped = await transport(1, {outputCapBytes: 50_000}).exec('seq 1 25000')
    expect(capped.truncated).toBe(true)
    expect(capped.stdout).toBe(expected.slice(0, 50_000))
  })

  it('putFile/getFile of a file over 64 KB: chunked under the request limit, checksum-verified, mode kept', async () => {
    const t = transport(2)
    const data = randomBytes(150_000) // does not compress: 5 chunks
    await t.putFile(data, 'up/deep/file.bin', 0o640)
    const onDisk = join(ep.instances[2]!.home, 'up/deep/file.bin')
    expect(readFileSync(onDisk).equals(data)).toBe(true)
    expect(statSync(onDisk).mode & 0o777).toBe(0o640)
    expect(ep.stats.maxSendBytes).toBeLessThan(64 * 1024)
    const local = join(dir, 'back', 'file.bin')
    await t.getFile('up/deep/file.bin', local)
    expect(readFileSync(local).equals(data)).toBe(true)
    expect(statSync(local).mode & 0o777).toBe(0o640)
    // A local file as the source, and several files in one transfer.
    writeFileSync(join(dir, 'local.txt'), 'from a file\n', {mode: 0o600})
    await t.putFile(join(dir, 'local.txt'), 'local.txt')
    expect(statSync(join(ep.instances[2]!.home, 'local.txt')).mode & 0o777).toBe(0o600)
    await t.putFiles([{rel: 'a/x.sh', data: Buffer.from('echo x\n'), mode: 0o755}, {rel: 'b.txt', data: randomBytes(100_000), mode: 0o644}], 'many')
    expect((await t.exec('ls -l many/a/x.sh | cut -c1-10; wc -c < many/b.txt')).stdout).toBe('-rwxr-xr-x\n100000\n')
    // A corrupted upload is refused by the checksum, and nothing is put in place.
    const bad = await t.exec(assembleCommand('0'.repeat(64), {file: 'never.txt', mode: 0o644}, {inline: gzipSync(Buffer.from('x')).toString('base64')}))
    expect(bad.code).toBe(65)
    expect(bad.stderr).toMatch(/checksum mismatch/)
    expect((await t.exec('test -e never.txt')).code).toBe(1)
    await expect(t.getFile('no/such/file', join(dir, 'nothing'))).rejects.toThrow(TransportError)
  })

  it("collect-logs' tar stream (paged exec with onStdout) arrives and extracts", async () => {
    const t = transport(2)
    await t.exec('mkdir -p logs/sub && seq 1 30000 > logs/sub/big.log && echo hi > logs/small.log')
    const dest = join(dir, 'collected')
    const f = await fetchArchive(t, tarCommand(ep.instances[2]!.home, ['logs', 'missing'], {sudo: false}), dest)
    expect(f.result.code).toBe(0)
    expect(f.result.stderr).toMatch(/fleet-missing missing/)
    expect(readFileSync(join(dest, 'logs/sub/big.log'), 'utf8')).toBe(execFileSync('seq', ['1', '30000']).toString())
    expect(readFileSync(join(dest, 'logs/small.log'), 'utf8')).toBe('hi\n')
  })

  it('the same command for many instances goes out as SendCommands of at most 50 ids; a bad id fails alone', async () => {
    const ts = ep.instances.map((_, i) => transport(i))
    const bogus = new SsmTransport({instanceId: 'i-00000000000000000', context: ctx, pollMinMs: 100})
    const before = ep.stats.sendIds.length
    const [results, bad] = await Promise.all([Promise.all(ts.map((t) => t.exec('echo "$USER"'))), bogus.exec('echo "$USER"').catch((e: unknown) => e)])
    expect(results.map((r) => r.stdout.trim())).toEqual(ep.instances.map((i) => i.user))
    const calls = ep.stats.sendIds.slice(before)
    expect(Math.max(...calls)).toBe(50)
    expect(calls.every((n) => n <= 50)).toBe(true)
    expect(bad).toBeInstanceOf(SsmUnreachableError)
    expect((bad as SsmUnreachableError).problem).toBe('not-managed')
    expect(ep.stats.errors.InvalidInstanceId).toBeGreaterThanOrEqual(1)
  })

  it('throttling (30% of calls) is retried with backoff: every command still completes', async () => {
    ep.setThrottle(0.3)
    const before = ep.stats.errors.ThrottlingException ?? 0
    const results = await Promise.all(Array.from({length: 8}, (_, k) => transport(k % 4).exec(`echo ${k}; seq 1 20000 | tail -1`)))
    expect(results.map((r) => r.stdout)).toEqual(Array.from({length: 8}, (_, k) => `${k}\n20000\n`))
    expect((ep.stats.errors.ThrottlingException ?? 0) - before).toBeGreaterThan(3)
    expect(ctx.stats.throttled).toBeGreaterThan(3)
  })

  it('an instance that never answers is unreachable, with the reason, and its command is cancelled; one that stops answering is a lost connection', async () => {
    ep.setMode(3, 'silent')
    try {
      const t = transport(3, {deliveryTimeoutMs: 2000})
      await t.connect() // registered and Online: only its commands never start
      const cancels = ep.stats.calls.CancelCommand ?? 0
      const started = Date.now()
      const e = await t.exec('echo never').catch((err: unknown) => err)
      expect(e).toBeInstanceOf(UnreachableError)
      expect(e).toMatchObject({problem: 'delivery-timeout', reason: 'timeout'})
      expect((e as Error).message).toMatch(/did not pick up a command within 2 s \(Pending\)/)
      expect(Date.now() - started).toBeLessThan(6000)
      expect(ep.stats.calls.CancelCommand).toBe(cancels + 1)

      // One that answered before and then goes quiet (a reboot) has lost its connection: the orchestrator reconnects.
      ep.setMode(3, 'normal')
      const u = transport(3, {deliveryTimeoutMs: 2000})
      await u.connect()
      expect((await u.exec('echo up')).stdout).toBe('up\n')
      ep.setMode(3, 'silent')
      await expect(u.exec('echo again')).rejects.toThrow(ConnectionLostError)
      ep.setMode(3, 'normal')
      await u.connect()
      expect((await u.exec('echo back')).stdout).toBe('back\n')
    } finally {
      ep.setMode(3, 'normal')
    }
  })

  it('undeliverable, offline, unmanaged and denied instances are unreachable with the service reason', async () => {
    const expectProblem = async (p: Promise<unknown>, problem: string, msg: RegExp) => {
      const e = await p.catch((err: unknown) => err)
      expect(e).toBeInstanceOf(SsmUnreachableError)
      expect((e as SsmUnreachableError).problem).toBe(problem)
      expect((e as Error).message).toMatch(msg)
    }
    ep.setMode(4, 'undeliverable')
    ep.setMode(5, 'offline')
    ep.setMode(6, 'denied')
    try {
      await expectProblem(transport(4).exec('true'), 'undeliverable', /Undeliverable/)
      await expectProblem(transport(5).connect(), 'offline', /ConnectionLost/)
      await expectProblem(new SsmTransport({instanceId: 'i-0123456789abcdef0', context: ctx}).connect(), 'not-managed', /not a managed instance/)
      await expectProblem(transport(6).exec('true'), 'access-denied', /not authorized to perform: ssm:SendCommand/)
    } finally {
      for (const i of [4, 5, 6]) ep.setMode(i, 'normal')
    }
  })

  it('exec timeout and abort cancel the command on the instance', async () => {
    const t = transport(7)
    const marker = join(ep.instances[7]!.home, 'late')
    await expect(t.exec('sleep 3; touch late', {timeoutMs: 1000})).rejects.toThrow(ExecTimeoutError)
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 500)
    await expect(t.exec('sleep 3; touch late', {signal: ac.signal})).rejects.toThrow(ExecAbortedError)
    await new Promise((r) => setTimeout(r, 3500))
    expect(() => statSync(marker)).toThrow() // both were killed before they got there
  })

  it('the endpoint holds the real limits: 64 KB of parameters, SigV4 scope and signature', async () => {
    const t = transport(0)
    await expect(t.exec(`echo ${'x'.repeat(70_000)}`)).rejects.toThrow(/too long for Systems Manager/)
    const {sdk, client} = await ctx.api()
    const big = new sdk.SendCommandCommand({DocumentName: 'AWS-RunShellScript', InstanceIds: [ep.instances[0]!.id], Parameters: {commands: ['x'.repeat(70_000)]}})
    await expect(client.send(big)).rejects.toMatchObject({name: 'InvalidParameters'})
    const send = new SendCommandCommand({DocumentName: 'AWS-RunShellScript', InstanceIds: [ep.instances[0]!.id], Parameters: {commands: ['true']}})
    const otherRegion = new SSMClient({region: 'us-east-1', endpoint: ep.url, maxAttempts: 1})
    await expect(otherRegion.send(send)).rejects.toMatchObject({name: 'InvalidSignatureException', message: expect.stringMatching(/region/)})
    const wrongSecret = new SSMClient({region: ep.region, endpoint: ep.url, maxAttempts: 1, credentials: {accessKeyId: ep.env.AWS_ACCESS_KEY_ID!, secretAccessKey: 'not-the-secret'}})
    await expect(wrongSecret.send(send)).rejects.toMatchObject({name: 'InvalidSignatureException', message: expect.stringMatching(/signature/)})
  })

  it('tag targets resolve to instance ids (paged 50 at a time)', async () => {
    expect((await ctx.instancesWithTag('Workshop', ['alpha'])).map((i) => i.InstanceId)).toEqual(ep.instances.slice(0, 3).map((i) => i.id))
    expect(await ctx.instancesWithTag('Workshop', ['alpha', 'beta'])).toHaveLength(COUNT)
  })
})
