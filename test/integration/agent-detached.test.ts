import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {agent, journalOf, lastRun, ndjson, tempDir, waitUntil} from '../helpers/agent-cli.js'

/** Three steps; the middle one blocks until the test creates `go`, unless it finds `go` already. */
function blockingPlaybook(dir: string): string {
  const pb = join(dir, 'block.yaml')
  writeFileSync(
    pb,
    `name: block
vars:
  dir: ${dir}
steps:
  - id: first
    check: test -f {{ dir }}/first.done
    run: echo first; touch {{ dir }}/first.done
  - id: middle
    check: test -f {{ dir }}/middle.done
    run: |
      echo middle started
      while [ ! -f {{ dir }}/go ]; do sleep 0.05; done
      touch {{ dir }}/middle.done
  - id: last
    run: echo last
`,
  )
  return pb
}

function lockPid(state: string): number {
  return JSON.parse(readFileSync(join(state, 'lock'), 'utf8')).pid
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

describe('agent start, follow and resume', () => {
  it('a detached run killed with SIGKILL mid-step is resumed at that step by the next start', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const pb = blockingPlaybook(home)
    const s1 = await agent(['start', '-p', pb, '--state-dir', state, '--json'], {home})
    expect(s1.code).toBe(0)
    const {run, status} = JSON.parse(s1.stdout)
    expect(status).toBe('started')
    await waitUntil('the middle step runs', () => journalOf(state, run).some((r) => r.type === 'output' && r.step === 'middle'))
    const pid = lockPid(state)
    // The step runs in its own process group, under the agent or its step launcher; a SIGKILL orphans it.
    const kids = childrenOf(pid).flatMap((k) => [k, ...childrenOf(k)])
    process.kill(pid, 'SIGKILL')
    for (const k of kids) {
      try {
        process.kill(-k, 'SIGKILL')
      } catch {
        // not a group leader, or gone with the launcher
      }
    }
    await waitUntil('the agent is gone', () => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z')

    const st = await agent(['status', '--state-dir', state, '--json'], {home})
    const summary = JSON.parse(st.stdout)
    expect(summary.state).toBe('interrupted')
    expect(summary.current.id).toBe('middle')
    // follow of a dead run does not hang: it ends with "interrupted" (3).
    expect((await agent(['follow', '--state-dir', state], {home})).code).toBe(3)

    writeFileSync(join(home, 'go'), '')
    const s2 = await agent(['start', '-p', pb, '--state-dir', state, '--json'], {home})
    expect(JSON.parse(s2.stdout)).toEqual({run, status: 'resumed'})
    const f = await agent(['follow', '--run', run, '--state-dir', state], {home})
    expect(f.code).toBe(0)

    const journal = journalOf(state, run)
    expect(journal.map((r) => r.seq)).toEqual(journal.map((_, i) => i + 1))
    const count = (type: string, step?: string) => journal.filter((r) => r.type === type && (step === undefined || (r as {step?: string}).step === step)).length
    expect(count('run-start')).toBe(1)
    expect(count('run-resume')).toBe(1)
    expect(count('step-start', 'first')).toBe(1)
    expect(count('step-end', 'first')).toBe(1)
    expect(count('step-start', 'middle')).toBe(2)
    expect(count('step-end', 'middle')).toBe(1)
    expect(count('step-end', 'last')).toBe(1)
    expect(journal.find((r) => r.type === 'run-resume')).toMatchObject({done: ['first']})
    expect(journal.at(-1)).toMatchObject({type: 'run-end', status: 'ok'})
    expect(readdirSync(join(state, 'runs'))).toEqual([run])
  })

  it('follow --from N after the run replays exactly the records after N', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const r = await agent(['run', '-p', resolve('playbooks/demo.yaml'), '--state-dir', state], {home})
    expect(r.code).toBe(0)
    const run = lastRun(state)
    const lines = readFileSync(join(state, 'runs', run, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean)
    expect(lines.length).toBeGreaterThan(20)
    for (const from of [0, 7, lines.length - 1, lines.length]) {
      const f = await agent(['follow', '--state-dir', state, '--from', String(from)], {home})
      expect(f.code).toBe(0)
      expect(f.stdout.split('\n').filter(Boolean)).toEqual(lines.slice(from))
    }
  })

  it('follow streams a live run from its start and exits with its status', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const pb = blockingPlaybook(home)
    const s = JSON.parse((await agent(['start', '-p', pb, '--state-dir', state, '--json'], {home})).stdout)
    const following = agent(['follow', '--run', s.run, '--state-dir', state], {home})
    await waitUntil('the middle step runs', () => journalOf(state, s.run).some((r) => r.type === 'step-start' && r.step === 'middle'))
    writeFileSync(join(home, 'go'), '')
    const f = await following
    expect(f.code).toBe(0)
    const recs = ndjson(f.stdout)
    expect(recs).toEqual(journalOf(state, s.run))
    expect(recs.at(-1)).toMatchObject({type: 'run-end', status: 'ok'})
  })

  it('two concurrent starts give one run, and both report its id', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const pb = blockingPlaybook(home)
    const [a, b] = await Promise.all([agent(['start', '-p', pb, '--state-dir', state, '--json'], {home}), agent(['start', '-p', pb, '--state-dir', state, '--json'], {home})])
    expect(a.code).toBe(0)
    expect(b.code).toBe(0)
    const ra = JSON.parse(a.stdout)
    const rb = JSON.parse(b.stdout)
    expect(ra.run).toBe(rb.run)
    expect([ra.status, rb.status].sort()).toEqual(['already-running', 'started'])
    // A foreground run meanwhile is refused with exit code 4.
    const fg = await agent(['run', '-p', pb, '--state-dir', state], {home})
    expect(fg.code).toBe(4)
    expect(fg.stderr).toMatch(/^Error: A run is already going on this host: \S+ \(pid \d+\)/)
    writeFileSync(join(home, 'go'), '')
    expect((await agent(['follow', '--state-dir', state], {home})).code).toBe(0)
    expect(readdirSync(join(state, 'runs'))).toHaveLength(1)
    expect(journalOf(state, ra.run).filter((r) => r.type === 'run-start')).toHaveLength(1)
  })

  it('a stale lock (its process is gone) is taken over', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const pb = blockingPlaybook(home)
    writeFileSync(join(home, 'go'), '')
    await agent(['run', '-p', pb, '--state-dir', state], {home})
    // A lock left by a process that no longer exists (pid far above pid_max is never alive).
    writeFileSync(join(state, 'lock'), JSON.stringify({pid: 4194305, pid_start: '1', boot_id: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), since: new Date().toISOString()}))
    const r = await agent(['run', '-p', pb, '--state-dir', state, '--json'], {home})
    expect(r.code).toBe(0)
    expect(existsSync(join(state, 'lock'))).toBe(false)
  })

  it('a reboot step ends ok after the host has booted again, and the run goes on', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    const bootFile = join(home, 'boot_id')
    writeFileSync(bootFile, 'boot-1\n')
    const pb = join(home, 'reboot.yaml')
    // The "reboot" kills the agent that runs it (the pid in its lock), as a real reboot would.
    const killAgent = `kill -KILL $(grep -o '"pid":[0-9]*' ${join(state, 'lock')} | cut -d: -f2)`
    writeFileSync(pb, `name: reboot\nsteps:\n  - id: before\n    run: echo before\n  - id: restart\n    reboot:\n      command: |\n        echo going down; sleep 0.3; ${killAgent}\n  - id: after\n    run: echo after\n`)
    const env = {FLEET_AGENT_BOOT_ID_FILE: bootFile}
    const s = JSON.parse((await agent(['start', '-p', pb, '--state-dir', state, '--json'], {home, env})).stdout)
    await waitUntil('the reboot is journaled', () => journalOf(state, s.run).some((r) => r.type === 'reboot'))
    await waitUntil('the agent is gone', () => !isLive(state))
    expect(journalOf(state, s.run).some((r) => r.type === 'run-end')).toBe(false)
    writeFileSync(bootFile, 'boot-2\n')
    const again = JSON.parse((await agent(['start', '-p', pb, '--state-dir', state, '--json'], {home, env})).stdout)
    expect(again).toEqual({run: s.run, status: 'resumed'})
    expect((await agent(['follow', '--state-dir', state], {home, env})).code).toBe(0)
    const j = journalOf(state, s.run)
    expect(j.filter((r) => r.type === 'output' && r.step === 'restart').map((r) => (r.type === 'output' ? r.data : '')).join('')).toBe('going down\n')
    expect(j.find((r) => r.type === 'step-end' && r.step === 'restart')).toMatchObject({status: 'ok'})
    expect(j.find((r) => r.type === 'step-end' && r.step === 'after')).toMatchObject({status: 'ok'})
    expect(j.filter((r) => r.type === 'step-start' && r.step === 'before')).toHaveLength(1)
  })
})

function isLive(state: string): boolean {
  try {
    const pid = JSON.parse(readFileSync(join(state, 'lock'), 'utf8')).pid
    return existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z'
  } catch {
    return false
  }
}
