import {cpSync, existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {agent, DEMO_STEPS, journalOf, lastRun, ndjson, tempDir, waitUntil} from '../helpers/agent-cli.js'

const DEMO = resolve('playbooks/demo.yaml')
const SECRET = 'demo-s3cret-7f3a9c'

function allFiles(dir: string): string[] {
  return readdirSync(dir, {recursive: true, withFileTypes: true})
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name))
}

describe('agent run of playbooks/demo.yaml', () => {
  it('runs every step, retries the flaky one, streams output, and a second run skips everything', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const r = await agent(['run', '--playbook', DEMO, '--state-dir', state, '--json'], {home})
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const records = ndjson(r.stdout)
    // What --json printed is exactly the journal.
    expect(records).toEqual(journalOf(state, lastRun(state)))
    expect(records.map((x) => x.seq)).toEqual(records.map((_, i) => i + 1))
    expect(records[0].type).toBe('run-start')
    expect(records.at(-1)).toMatchObject({type: 'run-end', status: 'ok'})
    const ends = records.filter((x) => x.type === 'step-end')
    expect(ends.map((e) => e.type === 'step-end' && [e.step, e.status])).toEqual(DEMO_STEPS.map((id) => [id, 'ok']))
    const retry = records.find((x) => x.type === 'step-retry')
    expect(retry).toMatchObject({step: 'flaky', attempt: 1, exit_code: 1, error: 'E: the first attempt fails on purpose'})
    expect(ends.find((e) => e.type === 'step-end' && e.step === 'flaky')).toMatchObject({attempts: 2})
    // Output arrives as it is produced, in order, between the step's start and end.
    const streamed = records.filter((x) => x.type === 'output' && x.step === 'stream-output' && x.stream === 'stdout').map((x) => (x.type === 'output' ? x.data : '')).join('')
    expect(streamed).toBe([1, 2, 3, 4, 5].map((i) => `working on item ${i} of 5\n`).join(''))
    expect(records.filter((x) => x.type === 'output' && x.step === 'stream-output').length).toBeGreaterThanOrEqual(5)
    expect(readFileSync(join(home, 'fleet-demo', 'demo.conf'), 'utf8')).toContain('greeting = hello from fleet')

    const again = await agent(['run', '--playbook', DEMO, '--state-dir', state, '--json'], {home})
    expect(again.code).toBe(0)
    const ends2 = ndjson(again.stdout).filter((x) => x.type === 'step-end')
    expect(ends2).toHaveLength(8)
    for (const e of ends2) expect(e).toMatchObject({status: 'skipped', reason: 'check'})
  })

  it('prints human progress without --json, and status summarises the run', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const r = await agent(['run', '-p', DEMO, '--state-dir', state], {home})
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/\[4\/8\] flaky: Fail once, then succeed on retry/)
    expect(r.stdout).toMatch(/attempt 1 failed \(E: the first attempt fails on purpose\); retrying/)
    expect(r.stdout).toMatch(/ {4}\| working on item 3 of 5/)
    const s = await agent(['status', '--state-dir', state, '--json'], {home})
    const summary = JSON.parse(s.stdout)
    expect(summary.state).toBe('ok')
    expect(summary.steps.map((x: {id: string; status: string}) => `${x.id}:${x.status}`)).toEqual(['make-dir:ok', 'write-config:ok', 'stream-output:ok', 'flaky:ok', 'use-secret:ok', 'start-service:ok', 'wait-ready:ok', 'summary:ok'])
    const human = await agent(['status', '--state-dir', state], {home})
    expect(human.stdout).toMatch(/playbook demo\): ok/)
    expect(human.stdout).toMatch(/flaky +ok/)
    // A run asked for by a name that is not there is a mistake, with --json too (the shipped agent and the whole one alike).
    for (const agentPath of [undefined, resolve('dist/agent-host/agent.mjs')]) {
      const nope = await agent(['status', '--state-dir', state, '--run', 'nope', '--json'], {home, agentPath})
      expect(nope.code).toBe(2)
      expect(nope.stdout).toBe('')
      expect(nope.stderr).toBe(`Error: Run nope has no journal in ${state}.\n`)
    }
    // No run at all yet is an answer: null.
    const none = await agent(['status', '--state-dir', join(home, 'empty'), '--json'], {home})
    expect([none.code, none.stdout]).toEqual([0, 'null\n'])
  })

  it('never lets the secret reach the journal, the step logs or the printed output', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const r = await agent(['run', '-p', DEMO, '--state-dir', state, '--json'], {home})
    expect(r.code).toBe(0)
    // The step really used it: the hash of the secret is on disk.
    expect(readFileSync(join(home, 'fleet-demo', 'token.sha256'), 'utf8')).toMatch(/^[0-9a-f]{64}/)
    const outputs = ndjson(r.stdout).filter((x) => x.type === 'output' && x.step === 'use-secret')
    expect(outputs.map((o) => (o.type === 'output' ? o.data : '')).join('')).toContain('calling the API with token ********')
    expect(r.stdout).not.toContain(SECRET)
    const files = allFiles(state)
    expect(files.some((f) => f.endsWith('use-secret.log'))).toBe(true)
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toContain(SECRET)
    const dry = await agent(['run', '-p', DEMO, '--state-dir', state, '--dry-run'], {home})
    expect(dry.stdout).toContain('token ********')
    expect(dry.stdout).not.toContain(SECRET)
  })

  it('runs with plain node from a copy of the bundle that has no node_modules near it', async () => {
    const home = tempDir()
    const bundle = join(home, 'bundle')
    cpSync(resolve('dist/agent'), bundle, {recursive: true})
    cpSync(resolve('playbooks'), join(bundle, 'playbooks'), {recursive: true})
    const r = await agent(['run', '-p', join(bundle, 'playbooks/demo.yaml'), '--state-dir', join(home, 'state'), '--only', 'setup'], {home, agentPath: join(bundle, 'agent.mjs'), cwd: bundle})
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(existsSync(join(home, 'fleet-demo', 'demo.conf'))).toBe(true)
  })

  it('undo reverses the applied steps, last first, and leaves nothing behind', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    expect((await agent(['run', '-p', DEMO, '--state-dir', state], {home})).code).toBe(0)
    expect(existsSync(join(home, 'fleet-demo'))).toBe(true)
    const u = await agent(['undo', '-p', DEMO, '--state-dir', state, '--json'], {home})
    expect(u.code).toBe(0)
    const recs = ndjson(u.stdout)
    expect(recs[0]).toMatchObject({type: 'run-start', mode: 'undo'})
    const undone = recs.filter((x) => x.type === 'step-end' && x.status === 'ok').map((x) => (x.type === 'step-end' ? x.step : ''))
    expect(undone).toEqual(['summary', 'start-service', 'use-secret', 'flaky', 'stream-output', 'write-config', 'make-dir'])
    expect(existsSync(join(home, 'fleet-demo'))).toBe(false)
    // Undo again: every check says not applied, so nothing runs.
    const u2 = await agent(['undo', '-p', DEMO, '--state-dir', state, '--json'], {home})
    expect(ndjson(u2.stdout).filter((x) => x.type === 'step-end').every((x) => x.type === 'step-end' && x.status === 'skipped' && x.reason === 'not-applied')).toBe(true)
  })

  it('undo --to-step stops at that step', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    await agent(['run', '-p', DEMO, '--state-dir', state], {home})
    const u = await agent(['undo', '-p', DEMO, '--state-dir', state, '--to-step', 'flaky', '--json'], {home})
    expect(u.code).toBe(0)
    const undone = ndjson(u.stdout).filter((x) => x.type === 'step-end').map((x) => (x.type === 'step-end' ? x.step : ''))
    expect(undone).toEqual(['summary', 'start-service', 'use-secret', 'flaky'])
    expect(existsSync(join(home, 'fleet-demo', 'demo.conf'))).toBe(true)
    expect(existsSync(join(home, 'fleet-demo', 'flaky.ok'))).toBe(false)
  })

  it('--only and --from-step take phase ids as well as step ids', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const only = await agent(['run', '-p', DEMO, '--state-dir', state, '--only', 'setup,summary', '--json'], {home})
    expect(only.code).toBe(0)
    const plan = ndjson(only.stdout)[0]
    expect(plan.type === 'run-start' && plan.plan.map((p) => p.id)).toEqual(['make-dir', 'write-config', 'summary'])
    const from = await agent(['run', '-p', DEMO, '--state-dir', state, '--from-step', 'work', '--dry-run', '--json'], {home})
    expect(JSON.parse(from.stdout).steps.map((s: {id: string}) => s.id)).toEqual(['stream-output', 'flaky', 'use-secret', 'start-service', 'wait-ready', 'summary'])
    const bad = await agent(['run', '-p', DEMO, '--state-dir', state, '--only', 'nope'], {home})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^Error: --only: playbook demo has no step or phase "nope" \(it has: setup, work, report, make-dir/)
  })

  it('a failing step ends the run failed with its last error line, and the exit code says so', async () => {
    const home = tempDir()
    const pb = join(home, 'fail.yaml')
    writeFileSync(pb, 'name: failing\nsteps:\n  - id: ok-step\n    run: echo fine\n  - id: broken\n    run: |\n      echo starting\n      echo "E: Unable to locate package nosuchpkg" >&2\n      exit 100\n  - id: never\n    run: echo never\n')
    const r = await agent(['run', '-p', pb, '--state-dir', join(home, 's'), '--json'], {home})
    expect(r.code).toBe(1)
    const recs = ndjson(r.stdout)
    expect(recs.find((x) => x.type === 'step-end' && x.step === 'broken')).toMatchObject({status: 'failed', exit_code: 100, error: 'E: Unable to locate package nosuchpkg'})
    expect(recs.some((x) => x.type === 'step-start' && x.step === 'never')).toBe(false)
    expect(recs.at(-1)).toMatchObject({type: 'run-end', status: 'failed', failed_step: 'broken'})
  })

  it('kills a step at its timeout, process group and all', async () => {
    const home = tempDir()
    const pb = join(home, 'slow.yaml')
    writeFileSync(pb, `name: slow\nsteps:\n  - id: hang\n    timeout: 0.5\n    run: (sleep 2; touch ${home}/survived) & sleep 30\n`)
    const t0 = Date.now()
    const r = await agent(['run', '-p', pb, '--state-dir', join(home, 's'), '--json'], {home})
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(r.code).toBe(1)
    expect(ndjson(r.stdout).find((x) => x.type === 'step-end')).toMatchObject({status: 'failed', error: expect.stringMatching(/^timed out after [01]s/)})
    // The background job was in the step's process group, so the timeout ended it too.
    await new Promise((r) => setTimeout(r, 2500))
    expect(existsSync(join(home, 'survived'))).toBe(false)
  })

  it('a var built from one the vars file gives sees its value (vars in the order the playbook declares them)', async () => {
    const home = tempDir()
    const pb = join(home, 'derived.yaml')
    writeFileSync(pb, 'name: derived\nvars:\n  host: {description: the lab host}\n  port: 8080\n  url: "http://{{ host }}:{{ port }}/"\nsteps:\n  - id: show\n    run: echo {{ url }}\n')
    writeFileSync(join(home, 'vars.yaml'), 'port: 9090\nhost: 10.0.0.5\n')
    const r = await agent(['run', '-p', pb, '--vars', join(home, 'vars.yaml'), '--state-dir', join(home, 's'), '--json'], {home})
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(ndjson(r.stdout).flatMap((x) => (x.type === 'output' ? [x.data] : []))).toEqual(['http://10.0.0.5:9090/\n'])
  })

  it('skips a step whose when condition is false, using host facts', async () => {
    const home = tempDir()
    const pb = join(home, 'when.yaml')
    writeFileSync(pb, `name: when\nvars:\n  enable_extra: false\nsteps:\n  - id: on-this-os\n    when: facts.os.id == "${readOsId()}"\n    run: echo yes\n  - id: other-os\n    when: facts.os.family == "plan9"\n    run: echo no\n  - id: by-var\n    when: enable_extra\n    run: echo extra\n`)
    const r = await agent(['run', '-p', pb, '--state-dir', join(home, 's'), '--json'], {home})
    expect(r.code).toBe(0)
    const ends = Object.fromEntries(ndjson(r.stdout).flatMap((x) => (x.type === 'step-end' ? [[x.step, `${x.status}/${x.reason ?? ''}`]] : [])))
    expect(ends).toEqual({'on-this-os': 'ok/', 'other-os': 'skipped/when', 'by-var': 'skipped/when'})
  })

  it('wait_for a TCP port: waits until something listens; fails with a clear error when nothing does', async () => {
    const {createServer} = await import('node:net')
    const probe = createServer().listen(0, '127.0.0.1')
    await new Promise((r) => probe.once('listening', r))
    const port = (probe.address() as {port: number}).port
    await new Promise((r) => probe.close(r))
    const home = tempDir()
    const pb = join(home, 'wait.yaml')
    writeFileSync(pb, `name: wait\nvars:\n  port: ${port}\nsteps:\n  - id: up\n    wait_for: {tcp: "127.0.0.1:{{ port }}", timeout: 3, interval: 0.1}\n`)
    const down = await agent(['run', '-p', pb, '--state-dir', join(home, 's1'), '--json'], {home})
    expect(down.code).toBe(1)
    expect(ndjson(down.stdout).find((x) => x.type === 'step-end')).toMatchObject({status: 'failed', error: `nothing answered on 127.0.0.1:${port} within 3s`})
    const running = agent(['run', '-p', pb, '--state-dir', join(home, 's2'), '--json'], {home})
    // Listen only once the step is under way (its first look found nothing), however slow the start.
    await waitUntil('the wait step starts', () => existsSync(join(home, 's2', 'last-run')) && journalOf(join(home, 's2'), lastRun(join(home, 's2'))).some((x) => x.type === 'step-start'))
    await new Promise((r) => setTimeout(r, 800))
    const server = createServer((c) => c.end()).listen(port, '127.0.0.1')
    const up = await running
    server.close()
    const end = ndjson(up.stdout).find((x) => x.type === 'step-end')
    expect(end).toMatchObject({status: 'ok'})
    expect(end?.type === 'step-end' && end.duration_ms).toBeGreaterThan(700)
  })

  it("renders a template's dates alike on every host, whatever the host's LANG", async () => {
    const home = tempDir()
    const pb = join(home, 'dates.yaml')
    writeFileSync(pb, 'name: dates\nsteps:\n  - id: month\n    run: "echo month={{ \\"2026-03-05T10:00:00Z\\" | date: \\"%B\\" }}"\n')
    for (const lang of ['de_DE.UTF-8', 'C.UTF-8']) {
      const r = await agent(['run', '-p', pb, '--state-dir', join(home, lang)], {home, env: {LANG: lang, LC_ALL: lang}})
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain('month=March')
    }
  })
})

function readOsId(): string {
  return readFileSync('/etc/os-release', 'utf8').match(/^ID=(.*)$/m)![1].replace(/"/g, '')
}
