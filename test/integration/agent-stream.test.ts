import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readlinkSync, symlinkSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import type {AgentFlags} from '../../src/protocol/index.js'
import {streamingRunCommand} from '../../src/remote-agent/shell-commands.js'
import {journalOf, tempDir, waitUntil} from '../helpers/agent-cli.js'

// The command fleet runs over SSH to start a host's run: the agent in its own session,
// streaming its journal on the exec's stdout. Run here through bash as sshd would.
const SLOW = resolve('test/fixtures/playbooks/slow.yaml')

function home(): string {
  const h = tempDir()
  mkdirSync(join(h, '.fleet/bundles'), {recursive: true})
  symlinkSync(resolve('dist/agent'), join(h, '.fleet/bundles/b0'))
  return h
}

interface Started {
  lines: string[]
  code: Promise<number | null>
  child: ReturnType<typeof spawn>
}

function startStream(h: string, flags: AgentFlags['run']): Started {
  const child = spawn('bash', ['-c', streamingRunCommand(process.execPath, 'b0', flags)], {cwd: h, env: {...process.env, HOME: h}, stdio: ['ignore', 'pipe', 'pipe']})
  const lines: string[] = []
  let rest = ''
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (rest + d.toString('utf8')).split('\n')
    rest = parts.pop()!
    lines.push(...parts)
  })
  const code = new Promise<number | null>((r) => child.on('close', (c) => r(c)))
  return {lines, code, child}
}

const stateOf = (h: string) => join(h, 'state')

describe('the streaming run fleet starts over SSH', () => {
  it("answers like agent start, streams every journal record as written, exits with the run's code, in a session of its own", async () => {
    const h = home()
    const s = startStream(h, {playbook: SLOW, 'state-dir': 'state', json: true})
    await waitUntil('the answer', () => s.lines.length > 1)
    const answer = JSON.parse(s.lines[0]) as {run: string; status: string}
    expect(answer.status).toBe('started')
    const pid = (JSON.parse(s.lines[1]) as {pid: number}).pid
    // setsid: the run leads its own session, so the end of the SSH session sends it no SIGHUP.
    const sid = spawnSync('ps', ['-o', 'sid=', '-p', String(pid)], {encoding: 'utf8'}).stdout.trim()
    expect(Number(sid)).toBe(pid)
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe('/')
    expect(await s.code).toBe(0)
    expect(s.lines.slice(1).map((l) => JSON.parse(l))).toEqual(journalOf(stateOf(h), answer.run))
    expect(JSON.parse(s.lines.at(-1)!)).toMatchObject({type: 'run-end', status: 'ok'})
  })

  it('a reader that goes away ends the stream, not the run', async () => {
    const h = home()
    const s = startStream(h, {playbook: SLOW, 'state-dir': 'state', json: true})
    await waitUntil('the tick step', () => s.lines.some((l) => l.includes('"tick 2 of')))
    const run = (JSON.parse(s.lines[0]) as {run: string}).run
    s.child.stdout!.destroy()
    await waitUntil('the run to end', () => journalOf(stateOf(h), run).some((r) => r.type === 'run-end'), 30_000)
    const end = journalOf(stateOf(h), run).find((r) => r.type === 'run-end')
    expect(end).toMatchObject({status: 'ok'})
    expect(existsSync(join(h, 'work/ok.done'))).toBe(true)
    await s.code
  })

  it('a run already going on is followed, not doubled', async () => {
    const h = home()
    const a = startStream(h, {playbook: SLOW, 'state-dir': 'state', json: true})
    await waitUntil('the first answer', () => a.lines.length > 0)
    const b = startStream(h, {playbook: SLOW, 'state-dir': 'state', json: true})
    const [ca, cb] = await Promise.all([a.code, b.code])
    expect([ca, cb]).toEqual([0, 0])
    const first = JSON.parse(a.lines[0]) as {run: string}
    const second = JSON.parse(b.lines[0]) as {run: string; status: string}
    expect(second).toMatchObject({run: first.run, status: 'already-running'})
    expect(b.lines.slice(1).map((l) => JSON.parse(l))).toEqual(journalOf(stateOf(h), first.run))
  })

  it('bad input: an error answer with file, line and field, exit 2, no state dir', async () => {
    const h = home()
    const pb = join(h, 'bad.yaml')
    writeFileSync(pb, 'name: bad\nsteps:\n  - id: x\n    run: 42\n')
    const s = startStream(h, {playbook: pb, 'state-dir': 'state', json: true})
    expect(await s.code).toBe(2)
    expect(s.lines).toHaveLength(1)
    const answer = JSON.parse(s.lines[0]) as {error: string; exit_code: number}
    expect(answer.error).toMatch(/bad\.yaml:4: field "steps\[x\]\.run": expected string, received number/)
    expect(answer.exit_code).toBe(2)
    expect(existsSync(stateOf(h))).toBe(false)
  })
})
