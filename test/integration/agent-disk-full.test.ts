/**
 * A host whose disk fills in the middle of a run: the agent runs as a real user whose home
 * (and so its state dir) is a small tmpfs mounted here; a step fallocates the free space and
 * the next one prints a few thousand lines. The step and the run end failed with "no space
 * left on the host: PATH" (PATH: the agent's file the disk refused), every way of running it
 * ends with that sentence and exit code 6 (EXIT.noSpace), the journal stays whole JSON lines,
 * and once there is space again the next start resumes the run and finishes it. Real
 * processes, a real tmpfs, a real user (needs root).
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {DiskFullError} from '../../src/agent/disk-full.js'
import {JournalWriter, readJournal} from '../../src/agent/journal.js'
import {EXIT} from '../../src/protocol/exit-codes.js'
import type {JournalRecord} from '../../src/protocol/index.js'
import {AGENT, journalOf, lastRun, ndjson} from '../helpers/agent-cli.js'
import {processesWith} from '../helpers/processes.js'

const USER = 'fleet-t-diskfull'
/** In the talk step's command line: how the test finds it still running. */
const TALK = 'a lot to say about the disk'

let dir = ''
let home = ''
let agentPath = ''
let playbook = ''
let ids = {uid: -1, gid: -1}
const mounts: string[] = []

function mountTmpfs(at: string, size: string): void {
  mkdirSync(at, {recursive: true})
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', at])
  mounts.push(at)
}

function unmount(at: string): void {
  const i = mounts.indexOf(at)
  if (i < 0) return
  // A process left behind by a failed assertion would keep it busy: detach it then.
  if (spawnSync('umount', [at]).status !== 0) execFileSync('umount', ['-l', at])
  mounts.splice(i, 1)
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and runs the agent as another user: it needs root')
  for (const tool of ['fallocate', 'setsid', 'useradd']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`this test needs ${tool}`)
  if (spawnSync('id', [USER]).status !== 0) execFileSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/bin/bash', USER])
  ids = {uid: Number(execFileSync('id', ['-u', USER], {encoding: 'utf8'})), gid: Number(execFileSync('id', ['-g', USER], {encoding: 'utf8'}))}
  dir = mkdtempSync('/tmp/fleet-agent-df-')
  chmodSync(dir, 0o755)
  // The bundle and the playbook where the user can read them (the checkout may be private).
  cpSync(join(AGENT, '..'), join(dir, 'agent'), {recursive: true})
  agentPath = join(dir, 'agent', 'agent.mjs')
  playbook = join(dir, 'disk-full.yaml')
  writeFileSync(
    playbook,
    `name: disk-full
vars:
  leave_kb: 0
steps:
  - id: fill
    title: Take the free space of the home, but leave_kb
    run: fallocate -l $(( $(df -B1 --output=avail "$HOME" | tail -1) - {{ leave_kb }} * 1024 )) "$HOME/filler"
  - id: talk
    title: Print a few thousand lines
    run: for i in $(seq 1 3000); do echo "line $i of a step that has ${TALK} filling up"; done
  - id: last
    title: The step after
    run: echo finished
`,
  )
  home = join(dir, 'home')
  mountTmpfs(home, '16m')
  execFileSync('chown', [`${ids.uid}:${ids.gid}`, home])
}, 120_000)

// Each case fills the disk; the next one starts with the space back.
afterEach(() => {
  if (home) freeSpace()
})

afterAll(() => {
  for (const m of [...mounts].reverse()) unmount(m)
  if (dir) rmSync(dir, {recursive: true, force: true})
})

function varsFile(leaveKb: number): string {
  const path = join(dir, `leave-${leaveKb}.yaml`)
  writeFileSync(path, `leave_kb: ${leaveKb}\n`)
  return path
}

function freeSpace(): void {
  rmSync(join(home, 'filler'), {force: true})
}

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** A command as the user, in its home, with only what a login over SSH would have. */
function asUser(argv: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {uid: ids.uid, gid: ids.gid, cwd: home, env: {PATH: process.env.PATH, HOME: home, NODE_ENV: 'production'}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
}

const agentAs = (args: string[]) => asUser([process.execPath, agentPath, ...args])

/** What fleet runs over SSH to start a run (streamingRunCommand): the stream on fd 3, stray output to ~/.fleet/agent.out. */
function streamingStart(args: string[]): Promise<Ran> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  const cmd = [process.execPath, agentPath, 'run', '--detached-child', '--stream', ...args].map(q).join(' ')
  return asUser(['sh', '-c', `mkdir -p .fleet && exec setsid -w ${cmd} 3>&1 >>.fleet/agent.out 2>&1 </dev/null`])
}

const sentence = (path: string) => `no space left on the host: ${path}`
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The path of the one-line "Error: no space left on the host: PATH" on stderr, which must name one of `files`. */
function refusedPath(stderr: string, files: string[]): string {
  const m = stderr.match(/^Error: no space left on the host: (\S+)\n$/)
  expect(m, stderr).not.toBeNull()
  expect(files).toContain(m![1])
  return m![1]
}

function stepEnd(records: JournalRecord[], step: string) {
  return records.filter((r) => r.type === 'step-end' && r.step === step)
}

function stepStarts(records: JournalRecord[], step: string): number {
  return records.filter((r) => r.type === 'step-start' && r.step === step).length
}

/** A run that the disk stopped in the talk step, as its journal must say. */
function expectStoppedInTalk(records: JournalRecord[], path: string): void {
  expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1))
  expect(stepEnd(records, 'fill')).toMatchObject([{status: 'ok'}])
  expect(stepEnd(records, 'talk')).toMatchObject([{status: 'failed', error: sentence(path)}])
  expect(stepStarts(records, 'last')).toBe(0)
  expect(records.at(-1)).toMatchObject({type: 'run-end', status: 'failed', failed_step: 'talk', error: sentence(path)})
}

/** The same run resumed to its end: fill not done again, talk whole, every line a record. */
function expectResumedToTheEnd(records: JournalRecord[]): void {
  expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1))
  expect(records.filter((r) => r.type === 'run-start')).toHaveLength(1)
  expect(records.filter((r) => r.type === 'run-resume')).toMatchObject([{done: ['fill']}])
  expect(stepStarts(records, 'fill')).toBe(1)
  expect(stepEnd(records, 'talk').at(-1)).toMatchObject({status: 'ok'})
  expect(stepEnd(records, 'last')).toMatchObject([{status: 'ok'}])
  const resumedAt = records.findIndex((r) => r.type === 'run-resume')
  const talked = records.slice(resumedAt).filter((r) => r.type === 'output' && r.step === 'talk').map((r) => (r.type === 'output' ? r.data : '')).join('')
  expect(talked.split('\n').filter(Boolean)).toHaveLength(3000)
  expect(records.at(-1)).toMatchObject({type: 'run-end', status: 'ok'})
}

describe('the agent on a host whose disk fills in the middle of a run', {timeout: 120_000}, () => {
  it('agent run --json ends the step and the run failed naming the file, exit 6; a start on the still full disk is refused and changes nothing; with space again, start --follow resumes and finishes', async () => {
    const state = join(home, 'state-run')
    const r = await agentAs(['run', '--json', '-p', playbook, '--state-dir', state])
    expect(r.code, r.stdout.slice(-2000) + r.stderr).toBe(EXIT.noSpace)
    const run = lastRun(state)
    const files = [join(state, 'runs', run, 'journal.jsonl'), join(state, 'runs', run, 'logs', 'talk.log')]
    const path = refusedPath(r.stderr, files)
    const records = ndjson(r.stdout)
    expect(records).toEqual(journalOf(state, run))
    expectStoppedInTalk(records, path)
    // The reserve was given back and the lock let go; nothing of the step runs on.
    expect(existsSync(join(state, 'space-reserve'))).toBe(false)
    expect(existsSync(join(state, 'lock'))).toBe(false)
    expect(processesWith(TALK)).toEqual([])

    // agent follow of that run: the journal as it is, and the same exit code.
    const followed = await agentAs(['follow', '--run', run, '--state-dir', state])
    expect(followed.code).toBe(EXIT.noSpace)
    expect(ndjson(followed.stdout)).toEqual(records)
    expect((await agentAs(['follow', '--run', run, '--state-dir', state, '--no-wait'])).code).toBe(EXIT.noSpace)

    // The disk is still full: the detached start says so (not "stopped before it started a run") and leaves all as it was.
    const refused = await agentAs(['start', '--json', '-p', playbook, '--state-dir', state])
    expect(refused.code).toBe(EXIT.noSpace)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toMatch(new RegExp(`^Error: no space left on the host: ${esc(state)}/(space-reserve|lock|runs/\\S+)\\n$`))
    expect(journalOf(state, run)).toEqual(records)
    expect(lastRun(state)).toBe(run)
    expect(existsSync(join(state, 'space-reserve'))).toBe(false)

    freeSpace()
    const resumed = await agentAs(['start', '--follow', '--json', '-p', playbook, '--state-dir', state])
    expect(resumed.code, resumed.stderr).toBe(EXIT.ok)
    expect(resumed.stderr).toBe('')
    const [answer, ...lines] = resumed.stdout.trimEnd().split('\n')
    expect(JSON.parse(answer)).toEqual({run, status: 'resumed'})
    const all = journalOf(state, run)
    expect(ndjson(lines.join('\n'))).toEqual(all)
    expect(all.slice(0, records.length)).toEqual(records)
    expectResumedToTheEnd(all)
    expect(readFileSync(join(state, 'runs', run, 'logs', 'last.log'), 'utf8')).toContain('finished')
  })

  it("fleet's streaming start, the disk filling in the middle of the step's output: the command is stopped, the stream ends with the run's end, exit 6; the next streaming start resumes it", async () => {
    // Room left after the fill for the first pieces of output (a pipe read is up to 64 KiB, in the log
    // and in the journal), not for all of it (~0.5 MB): the disk fills while the talk step is printing.
    const vars = varsFile(160)
    const state = join(home, '.local', 'state', 'fleet-agent') // the default for a user that is not root
    const r = await streamingStart(['--json', '-p', playbook, '--vars', vars])
    expect(r.code, r.stdout.slice(-2000) + r.stderr).toBe(EXIT.noSpace)
    const [answer, ...lines] = r.stdout.trimEnd().split('\n')
    const run = lastRun(state)
    expect(JSON.parse(answer)).toEqual({run, status: 'started'})
    const records = ndjson(lines.join('\n'))
    expect(records).toEqual(journalOf(state, run))
    const path = (records.at(-1) as {error?: string}).error?.replace('no space left on the host: ', '') ?? ''
    expect([join(state, 'runs', run, 'journal.jsonl'), join(state, 'runs', run, 'logs', 'talk.log')]).toContain(path)
    expectStoppedInTalk(records, path)
    // It was stopped while it talked: some of its output is there, not all, and it had no exit code of its own.
    expect(records.some((x) => x.type === 'output' && x.step === 'talk')).toBe(true)
    expect(stepEnd(records, 'talk')).toMatchObject([{exit_code: null, attempts: 1}])
    expect(readFileSync(join(state, 'runs', run, 'logs', 'talk.log'), 'utf8')).not.toContain('line 3000 of')
    expect(processesWith(TALK)).toEqual([])
    expect(readFileSync(join(home, '.fleet', 'agent.out'), 'utf8')).not.toMatch(/\n\s+at /)

    freeSpace()
    const again = await streamingStart(['--json', '-p', playbook, '--vars', vars])
    expect(again.code, again.stderr).toBe(EXIT.ok)
    const [answer2, ...lines2] = again.stdout.trimEnd().split('\n')
    expect(JSON.parse(answer2)).toEqual({run, status: 'resumed'})
    const all = journalOf(state, run)
    expect(ndjson(lines2.join('\n'))).toEqual(all)
    expectResumedToTheEnd(all)
  })

  it('agent run and agent start --follow without --json end with the sentence on stderr and exit 6', async () => {
    const state = join(home, 'state-human')
    const r = await agentAs(['run', '-p', playbook, '--state-dir', state])
    expect(r.code, r.stdout.slice(-2000) + r.stderr).toBe(EXIT.noSpace)
    const run = lastRun(state)
    const path = refusedPath(r.stderr, [join(state, 'runs', run, 'journal.jsonl'), join(state, 'runs', run, 'logs', 'talk.log')])
    expect(r.stdout).toMatch(new RegExp(`\\[2/3\\] talk: Print a few thousand lines\\n(    \\|.*\\n)* {4}failed in \\S+: ${esc(sentence(path))}\\nrun ${run}: failed \\(${esc(sentence(path))}\\) after \\S+\\n$`))
    freeSpace()

    const state2 = join(home, 'state-follow')
    const f = await agentAs(['start', '--follow', '-p', playbook, '--vars', varsFile(16), '--state-dir', state2])
    expect(f.code, f.stdout.slice(-2000) + f.stderr).toBe(EXIT.noSpace)
    const run2 = lastRun(state2)
    const path2 = refusedPath(f.stderr, [join(state2, 'runs', run2, 'journal.jsonl'), join(state2, 'runs', run2, 'logs', 'talk.log')])
    const [first, ...lines] = f.stdout.trimEnd().split('\n')
    expect(first).toBe(`Started run ${run2}; following it.`)
    const records = ndjson(lines.join('\n'))
    expect(records).toEqual(journalOf(state2, run2))
    expectStoppedInTalk(records, path2)
  })

  it('a detached agent that ends without answering is reported by how it ended and what it said, not as one that "stopped before it started a run"', async () => {
    // A lock that is a folder: the detached run cannot take it and ends with a plain error, before any answer.
    const state = join(home, 'state-no-answer')
    expect((await asUser(['mkdir', '-p', join(state, 'lock')])).code).toBe(0)
    const r = await agentAs(['start', '--json', '-p', playbook, '--state-dir', state])
    expect(r.code).toBe(EXIT.failed)
    expect(r.stderr).toBe(`Error: the detached agent exited with code 1 before it said which run it is; see ${join(state, 'agent.out')}: could not take the lock ${join(state, 'lock')}\n`)
  })

  it('a record the full disk cut short is taken back whole: the journal stays JSON lines and goes on once there is space', () => {
    const small = join(dir, 'small')
    mountTmpfs(small, '64k')
    try {
      const path = join(small, 'journal.jsonl')
      const journal = new JournalWriter(path, 'r1')
      const chunk = (c: string) => ({type: 'output' as const, step: 's', stream: 'stdout' as const, data: c.repeat(3000)})
      journal.append(chunk('a'))
      // The rest of the disk taken: what is left is the slack of the journal's page, less than a record.
      execFileSync('sh', ['-c', `fallocate -l $(df -B1 --output=avail ${small} | tail -1) ${small}/filler`])
      expect(() => journal.append(chunk('b'))).toThrow(new DiskFullError(path))
      expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true)
      expect(readJournal(path)).toMatchObject([{seq: 1, data: 'a'.repeat(3000)}])
      rmSync(join(small, 'filler'))
      journal.append(chunk('c'))
      journal.close()
      expect(readJournal(path)).toMatchObject([
        {seq: 1, data: 'a'.repeat(3000)},
        {seq: 2, data: 'c'.repeat(3000)},
      ])
    } finally {
      unmount(small)
    }
  })
})
