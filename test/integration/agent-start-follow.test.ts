import {writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {agent, journalOf, tempDir} from '../helpers/agent-cli.js'

const DEMO = resolve('playbooks/demo.yaml')

describe('agent start --follow, and the CLI fast path', () => {
  it('starts the run detached, prints the start answer, then every journal record, and exits with the run status', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const r = await agent(['start', '-p', DEMO, '--state-dir', state, '--json', '--follow'], {home})
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const [first, ...rest] = r.stdout.trim().split('\n')
    const answer = JSON.parse(first)
    expect(answer).toMatchObject({status: 'started'})
    expect(rest.map((l) => JSON.parse(l))).toEqual(journalOf(state, answer.run))
    expect(JSON.parse(rest[rest.length - 1])).toMatchObject({type: 'run-end', status: 'ok'})

    // Again: a finished run is not resumed; a new run skips every step, and follow exits 0.
    const again = await agent(['start', '--playbook', DEMO, '--state-dir', state, '--json', '--follow'], {home})
    expect(again.code).toBe(0)
    const run2 = JSON.parse(again.stdout.split('\n')[0]).run
    expect(run2).not.toBe(answer.run)
    expect(journalOf(state, run2).filter((x) => x.type === 'step-end').every((x) => x.type === 'step-end' && x.status === 'skipped')).toBe(true)
  })

  it('--request: a start asked again with the id of a run that ended is answered with that run, not a new one', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const first = await agent(['start', '-p', DEMO, '--state-dir', state, '--json', '--follow', '--request', 'fleet-7-1'], {home})
    expect(first.code, first.stderr).toBe(0)
    const run = JSON.parse(first.stdout.split('\n')[0]).run as string
    const journal = journalOf(state, run)

    // The caller lost that answer and asks again: the same run, its whole journal, its exit code; nothing runs.
    const again = await agent(['start', '-p', DEMO, '--state-dir', state, '--json', '--follow', '--request', 'fleet-7-1'], {home})
    expect(again.code, again.stderr).toBe(0)
    const [answer, ...records] = again.stdout.trim().split('\n')
    expect(JSON.parse(answer)).toEqual({run, status: 'ended'})
    expect(records.map((l) => JSON.parse(l))).toEqual(journal)
    expect(journalOf(state, run)).toEqual(journal)
    // Through fleet's streaming start too (the detached child writes to fd 3), and without --follow.
    const streamed = await agent(['run', '-p', DEMO, '--state-dir', state, '--json', '--detached-child', '--stream', '--request', 'fleet-7-1'], {home, fd3: true})
    expect(streamed.code, streamed.stderr).toBe(0)
    expect(streamed.fd3.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{run, status: 'ended'}, ...journal])
    const plain = await agent(['start', '-p', DEMO, '--state-dir', state, '--request', 'fleet-7-1'], {home})
    expect(plain.stdout).toBe(`Run ${run} of this request has ended already; see it with: agent status --run ${run}\n`)

    // Another request, or none, starts a new run as before.
    const other = await agent(['start', '-p', DEMO, '--state-dir', state, '--json', '--request', 'fleet-8-1'], {home})
    expect(JSON.parse(other.stdout)).toMatchObject({status: 'started'})
    expect(JSON.parse(other.stdout).run).not.toBe(run)
  })

  it('a failing run: start --follow exits 1 like follow; bad input is refused before anything starts', async () => {
    const home = tempDir()
    const pb = join(home, 'fail.yaml')
    writeFileSync(pb, 'name: fail\nsteps:\n  - id: boom\n    run: echo no >&2; exit 7\n')
    const r = await agent(['start', '-p', pb, '--state-dir', join(home, 's'), '--json', '--follow'], {home})
    expect(r.code).toBe(1)
    expect(r.stdout.trim().split('\n').pop()).toContain('"type":"run-end"')

    writeFileSync(pb, 'name: fail\nsteps:\n  - id: boom\n    run: "true"\n    timeout: soon\n')
    const bad = await agent(['start', '-p', pb, '--state-dir', join(home, 's2'), '--follow'], {home})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^Error: .*fail\.yaml:5: field "steps\[boom\]\.timeout"/)
    expect(bad.stdout).toBe('')
  })

  it('what the fast path does not take goes to oclif: help, unknown flags, bad values', async () => {
    const home = tempDir()
    const help = await agent(['start', '--help'], {home})
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--follow')
    const unknown = await agent(['follow', '--bogus'], {home})
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('Nonexistent flag: --bogus')
    const badFrom = await agent(['follow', '--from', 'x', '--state-dir', join(home, 's')], {home})
    expect(badFrom.code).not.toBe(0)
    expect(badFrom.stderr).toMatch(/Expected an integer/)
    const dry = await agent(['start', '-p', DEMO, '--dry-run', '--state-dir', join(home, 's')], {home})
    expect(dry.code).toBe(2)
    expect(dry.stderr).toContain('--dry-run is for "agent run"')
  })
})
