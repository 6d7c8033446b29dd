import {execFileSync, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'

import {startLocalHosts, type LocalHost, type LocalHostSet} from '../../testbed/index.js'
import {generateEd25519} from '../../testbed/machine/keys.js'
import {shellJoin, shq} from '../../src/shell/quote.js'
import {
  AuthFailedError,
  ConnectionLostError,
  ExecTimeoutError,
  HostKeyMismatchError,
  UnreachableError,
} from '../../src/transport/errors.js'
import {KnownHostsFile, MemoryHostKeyStore, type HostKeyStore} from '../../src/transport/known-hosts.js'
import {SshTransport, type SshOptions} from '../../src/transport/ssh.js'

const COUNT = 20
let set: LocalHostSet
let work: string
const open: SshTransport[] = []

function transport(h: LocalHost, knownHosts: HostKeyStore = new MemoryHostKeyStore(), extra: Partial<SshOptions> = {}): SshTransport {
  const t = new SshTransport({host: h.address, port: h.port, username: h.user, identityFiles: [h.identityFile], agent: false, knownHosts, ...extra})
  open.push(t)
  return t
}

beforeAll(async () => {
  set = await startLocalHosts({count: COUNT, prefix: 'fleet-tt'})
  work = mkdtempSync(join(tmpdir(), 'fleet-ssh-test-'))
})

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close().catch(() => undefined)))
})

afterAll(async () => {
  await set?.stop()
  if (work) rmSync(work, {recursive: true, force: true})
})

describe('SshTransport exec', () => {
  it('streams stdout and stderr while the command runs, and reports exit codes and signals', async () => {
    const t = transport(set.hosts[0])
    await t.connect()
    const events: Array<{stream: string; text: string; at: number}> = []
    const started = Date.now()
    const res = await t.exec('echo first; echo oops >&2; sleep 0.5; echo second; exit 7', {
      onStdout: (b) => events.push({stream: 'out', text: b.toString(), at: Date.now() - started}),
      onStderr: (b) => events.push({stream: 'err', text: b.toString(), at: Date.now() - started}),
    })
    const ended = Date.now() - started
    expect(res.code).toBe(7)
    expect(res.stdout).toBe('') // streamed, not collected
    expect(events.filter((e) => e.stream === 'out').map((e) => e.text).join('')).toBe('first\nsecond\n')
    expect(events.filter((e) => e.stream === 'err').map((e) => e.text).join('')).toBe('oops\n')
    // "first" arrived well before the command finished: really streamed
    expect(events[0].at).toBeLessThan(ended - 300)

    const collected = await t.exec('echo out; echo err >&2')
    expect(collected).toEqual({code: 0, stdout: 'out\n', stderr: 'err\n'})

    const killed = await t.exec('kill -TERM $$')
    expect(killed.code).toBeNull()
    expect(killed.signal).toBe('SIGTERM')
  })

  it('feeds stdin and closes it; without stdin a reader sees EOF at once', async () => {
    const t = transport(set.hosts[1])
    await t.connect()
    const input = randomBytes(300_000)
    const res = await t.exec('sha256sum', {stdin: input})
    expect(res.stdout.split(' ')[0]).toBe(createHash('sha256').update(input).digest('hex'))
    const empty = await t.exec('cat; echo done', {timeoutMs: 5000})
    expect(empty.stdout).toBe('done\n')
  })

  it('caps collected output', async () => {
    const t = new SshTransport({host: set.hosts[1].address, port: set.hosts[1].port, username: set.hosts[1].user, identityFiles: [set.hosts[1].identityFile], agent: false, knownHosts: new MemoryHostKeyStore(), outputCapBytes: 1000})
    open.push(t)
    await t.connect()
    const res = await t.exec('head -c 5000 /dev/zero | tr "\\0" x')
    expect(res.stdout.length).toBe(1000)
    expect(res.truncated).toBe(true)
  })

  it('runs many commands over one connection, more at once than sshd MaxSessions-friendly slots', async () => {
    const t = transport(set.hosts[2], undefined, {maxChannels: 4})
    await t.connect()
    const results = await Promise.all(Array.from({length: 30}, (_, i) => t.exec(`echo ${i}`)))
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({length: 30}, (_, i) => String(i)))
    // one connection: exactly one per-connection sshd pair on the host
    expect(set.sessionPids(set.hosts[2]).length).toBeLessThanOrEqual(2)
  })

  it('a timeout rejects with ExecTimeoutError and kills the remote command', async () => {
    const h = set.hosts[3]
    const t = transport(h)
    await t.connect()
    const marker = `fleet-timeout-${randomBytes(3).toString('hex')}`
    const started = Date.now()
    await expect(t.exec(`exec -a ${shq(marker)} sleep 30`, {timeoutMs: 500})).rejects.toBeInstanceOf(ExecTimeoutError)
    expect(Date.now() - started).toBeLessThan(3000)
    await new Promise((r) => setTimeout(r, 300))
    const left = await t.exec(`pgrep -u ${shq(h.user)} -f ${shq(`^${marker}`)} || true`)
    expect(left.stdout.trim()).toBe('')
  })
})

describe('SshTransport files', () => {
  it('round-trips a binary file with its mode, from a buffer and from a local path', async () => {
    const t = transport(set.hosts[4])
    await t.connect()
    const data = randomBytes(700_000)
    await t.putFile(data, 'dir-less.bin', 0o640)
    const remote = await t.exec(shellJoin(['stat', '-c', '%a %s', 'dir-less.bin']))
    expect(remote.stdout.trim()).toBe(`640 ${data.length}`)
    const sum = await t.exec('sha256sum dir-less.bin')
    expect(sum.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'))

    const back = join(work, 'nested', 'back.bin')
    await t.getFile('dir-less.bin', back)
    expect(readFileSync(back).equals(data)).toBe(true)
    expect(statSync(back).mode & 0o777).toBe(0o640)

    // a local script keeps its executable mode; overwriting an existing file works
    const script = join(work, 'hello.sh')
    writeFileSync(script, '#!/bin/sh\necho hello from $(id -un)\n', {mode: 0o755})
    await t.putFile(script, 'hello.sh')
    await t.putFile(script, 'hello.sh')
    const run = await t.exec('./hello.sh')
    expect(run.stdout).toBe(`hello from ${set.hosts[4].user}\n`)
    // no temp files left behind
    expect((await t.exec('ls -A')).stdout.split('\n').filter((f) => f.includes('fleet-'))).toEqual([])
  })

  it('reports a missing remote file as an error naming the path', async () => {
    const t = transport(set.hosts[4])
    await t.connect()
    await expect(t.getFile('/nonexistent/file', join(work, 'x'))).rejects.toThrow(/getFile \/nonexistent\/file/)
  })
})

describe('host keys and failures', () => {
  it('records a new host key, refuses a changed one with HostKeyMismatchError, other hosts go on', async () => {
    const file = join(work, 'known_hosts')
    const [a, b] = [set.hosts[5], set.hosts[6]]
    const first = transport(a, new KnownHostsFile(file))
    await first.connect()
    expect(readFileSync(file, 'utf8')).toBe(`${a.hostId} ${a.hostKeyPublic}\n`)
    await first.close()

    // same key again: accepted
    const again = transport(a, new KnownHostsFile(file))
    await again.connect()
    await again.close()

    const oldKey = a.hostKeyPublic
    const newKey = await set.rotateHostKey(a)
    expect(newKey).not.toBe(oldKey)
    const store = new KnownHostsFile(file)
    const refused = transport(a, store)
    const err = await refused.connect().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(HostKeyMismatchError)
    const msg = (err as Error).message
    expect(msg).toContain(a.hostId)
    expect(msg).toContain(file)
    expect(msg).toContain((err as HostKeyMismatchError).offeredFingerprint)
    expect((err as HostKeyMismatchError).knownFingerprints[0]).toMatch(/^ssh-ed25519 SHA256:/)
    expect((err as HostKeyMismatchError).knownFingerprints[0]).not.toContain((err as HostKeyMismatchError).offeredFingerprint)
    // the stored key was not replaced
    expect(readFileSync(file, 'utf8')).toContain(oldKey)
    expect(readFileSync(file, 'utf8')).not.toContain(newKey)

    // another host with the same store still works
    const other = transport(b, store)
    await other.connect()
    expect((await other.exec('id -un')).stdout.trim()).toBe(b.user)
  })

  it('a stopped host is unreachable, quickly', async () => {
    const h = set.hosts[7]
    await set.stopHost(h)
    try {
      const t = transport(h)
      const started = Date.now()
      const err = await t.connect().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(UnreachableError)
      expect((err as UnreachableError).reason).toBe('refused')
      expect(Date.now() - started).toBeLessThan(2000)
    } finally {
      await set.startHost(h)
    }
    const t = transport(h)
    await t.connect()
    expect((await t.exec('true')).code).toBe(0)
  })

  it('a wrong key is AuthFailedError, not unreachable', async () => {
    const keyFile = join(work, 'wrong_key')
    writeFileSync(keyFile, generateEd25519().privateKey, {mode: 0o600})
    const t = transport(set.hosts[8], undefined, {identityFiles: [keyFile]})
    await expect(t.connect()).rejects.toBeInstanceOf(AuthFailedError)
  })

  it('authenticates through ssh-agent; a dead agent socket is an auth failure, not a crash', async () => {
    const h = set.hosts[8]
    const sock = join(work, 'agent.sock')
    const agent = spawn('ssh-agent', ['-D', '-a', sock], {stdio: 'ignore'})
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20))
      execFileSync('ssh-add', [h.identityFile], {env: {...process.env, SSH_AUTH_SOCK: sock}, stdio: 'ignore'})
      const t = transport(h, undefined, {identityFiles: [], agent: sock})
      await t.connect()
      expect((await t.exec('id -un')).stdout.trim()).toBe(h.user)
    } finally {
      agent.kill('SIGTERM')
    }
    const dead = transport(h, undefined, {identityFiles: [], agent: join(work, 'no-such-agent.sock')})
    const err = await dead.connect().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(AuthFailedError)
    expect((err as Error).message).toMatch(/ssh-agent/)
  })

  it('killing the host side of the session mid-command is ConnectionLostError, and connect() again resumes', async () => {
    const h = set.hosts[9]
    const t = transport(h)
    await t.connect()
    const running = t.exec('sleep 30')
    running.catch(() => undefined)
    await new Promise((r) => setTimeout(r, 300))
    const started = Date.now()
    expect(set.killSessions(h).length).toBeGreaterThan(0)
    await expect(running).rejects.toBeInstanceOf(ConnectionLostError)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(t.connected).toBe(false)
    await expect(t.exec('true')).rejects.toBeInstanceOf(ConnectionLostError)
    await t.connect()
    expect((await t.exec('echo back')).stdout).toBe('back\n')
  })
})

describe('ProxyJump', () => {
  it('reaches a host through a bastion; the bastion dropping takes the inner connection down', async () => {
    const [bastionHost, target] = [set.hosts[10], set.hosts[11]]
    const store = new MemoryHostKeyStore()
    const bastion = transport(bastionHost, store)
    const forward = vi.spyOn(bastion, 'forwardOut')
    const inner = transport(target, store, {jump: bastion})
    await inner.connect()
    expect(forward).toHaveBeenCalledWith(target.address, target.port)
    expect((await inner.exec('id -un')).stdout.trim()).toBe(target.user)
    // the target's key was recorded under the target's id, the bastion's under its own
    expect(store.get(target.hostId)).toBe(target.hostKeyPublic)
    expect(store.get(bastionHost.hostId)).toBe(bastionHost.hostKeyPublic)

    const running = inner.exec('sleep 30')
    running.catch(() => undefined)
    await new Promise((r) => setTimeout(r, 300))
    set.killSessions(bastionHost)
    await expect(running).rejects.toBeInstanceOf(ConnectionLostError)
  })

  it('jump given as options makes a private bastion connection', async () => {
    const [bastionHost, target] = [set.hosts[12], set.hosts[13]]
    const inner = transport(target, new MemoryHostKeyStore(), {
      jump: {host: bastionHost.address, port: bastionHost.port, username: bastionHost.user, identityFiles: [bastionHost.identityFile], agent: false},
    })
    await inner.connect()
    expect((await inner.exec('id -un')).stdout.trim()).toBe(target.user)
    expect(set.sessionPids(bastionHost).length).toBeGreaterThan(0)
    await inner.close()
    await new Promise((r) => setTimeout(r, 300))
    expect(set.sessionPids(bastionHost)).toEqual([])
  })

  it('a stopped target behind a bastion is unreachable (proxy)', async () => {
    const [bastionHost, target] = [set.hosts[14], set.hosts[15]]
    await set.stopHost(target)
    try {
      const bastion = transport(bastionHost)
      const inner = transport(target, undefined, {jump: bastion})
      const err = await inner.connect().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(UnreachableError)
      expect((err as UnreachableError).reason).toBe('proxy')
    } finally {
      await set.startHost(target)
    }
  })
})

describe('fan-out', () => {
  it(`connects to ${COUNT} hosts in parallel and runs a command on each`, async () => {
    const store = new MemoryHostKeyStore()
    const ts = set.hosts.map((h) => transport(h, store))
    const started = Date.now()
    await Promise.all(ts.map((t) => t.connect()))
    const results = await Promise.all(ts.map((t) => t.exec('id -un; sudo -n id -u')))
    const elapsed = Date.now() - started
    expect(results.map((r) => r.stdout)).toEqual(set.hosts.map((h) => `${h.user}\n0\n`))
    expect(elapsed).toBeLessThan(30_000)
  })
})
