import {spawn} from 'node:child_process'
import {chmodSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {NODE_FIRST} from '../../src/agent/launcher/choose.js'
import type {JournalRecord} from '../../src/protocol/index.js'
import {agent, AGENT, ndjson, tempDir, waitUntil} from '../helpers/agent-cli.js'

// The bundled agent with each launcher, and with a python that cannot run the launcher.

/** The parent of the step's shell. */
const PARENT = `cut -d' ' -f4 /proc/$$/stat`

function playbook(dir: string, steps = `  - id: parent\n    run: ${PARENT}\n  - id: again\n    run: ${PARENT}\n`): string {
  const pb = join(dir, 'pb.yaml')
  writeFileSync(pb, `name: launcher\nsteps:\n${steps}`)
  return pb
}

function outputOf(records: JournalRecord[], step: string): string {
  return records.map((r) => (r.type === 'output' && r.step === step ? r.data : '')).join('')
}

function agentPid(records: JournalRecord[]): number {
  const start = records.find((r) => r.type === 'run-start')
  return start?.type === 'run-start' ? start.pid : NaN
}

function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z')
  } catch {
    return true
  }
}

/** A python3 that says it is too old, as a 3.6 would. */
function oldPython(dir: string): string {
  const path = join(dir, 'python3')
  writeFileSync(path, '#!/bin/sh\necho "python 3.6 on linux cannot run the step launcher (it needs 3.8 or newer, on Linux)" >&2\nexit 3\n')
  chmodSync(path, 0o755)
  return path
}

/** Enough steps that the last two start after Node's first NODE_FIRST commands (the launcher's, when it runs). */
const LONG = [...Array.from({length: NODE_FIRST}, (_, i) => `  - id: s${i}\n    run: "true"\n`), `  - id: parent\n    run: ${PARENT}\n  - id: again\n    run: ${PARENT}\n`].join('')

async function runWith(env: Record<string, string>, steps?: string) {
  const home = tempDir()
  const r = await agent(['run', '-p', playbook(home, steps), '--state-dir', join(home, 'state'), '--json'], {home, env})
  return {...r, records: ndjson(r.stdout)}
}

describe('the agent with the python launcher', () => {
  it("starts a run's first commands with Node, later ones from one launcher, and the launcher ends with the agent", async () => {
    const short = await runWith({})
    expect(short.code, short.stderr).toBe(0)
    expect(Number(outputOf(short.records, 'parent'))).toBe(agentPid(short.records))
    expect(Number(outputOf(short.records, 'again'))).toBe(agentPid(short.records))
    const r = await runWith({}, LONG)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const parent = Number(outputOf(r.records, 'parent'))
    expect(parent).not.toBe(agentPid(r.records))
    expect(Number(outputOf(r.records, 'again'))).toBe(parent)
    await waitUntil('the launcher has exited', () => gone(parent), 5000)
  })

  it('Node starts the steps when forced', async () => {
    const forced = await runWith({FLEET_AGENT_LAUNCHER: 'node'}, LONG)
    expect(Number(outputOf(forced.records, 'parent'))).toBe(agentPid(forced.records))
    expect(Number(outputOf(forced.records, 'again'))).toBe(agentPid(forced.records))
  })

  it('falls back to Node when python is missing or too old', async () => {
    const dir = tempDir()
    for (const python of ['/nonexistent/python3', oldPython(dir)]) {
      const r = await runWith({FLEET_AGENT_PYTHON: python}, LONG)
      expect(r.code, r.stderr).toBe(0)
      expect(Number(outputOf(r.records, 'parent'))).toBe(agentPid(r.records))
      expect(Number(outputOf(r.records, 'again'))).toBe(agentPid(r.records))
    }
  })

  it('forced but unavailable, the step fails with the reason', async () => {
    const dir = tempDir()
    const cases = [
      ['/nonexistent/python3', 'FLEET_AGENT_LAUNCHER=python, but the python launcher could not start: spawn /nonexistent/python3 ENOENT'],
      [oldPython(dir), 'FLEET_AGENT_LAUNCHER=python, but the python launcher could not start: exited with code 3 (python 3.6 on linux cannot run the step launcher (it needs 3.8 or newer, on Linux))'],
    ]
    for (const [python, message] of cases) {
      const r = await runWith({FLEET_AGENT_LAUNCHER: 'python', FLEET_AGENT_PYTHON: python})
      expect(r.code).toBe(1)
      expect(r.records.find((x) => x.type === 'step-end')).toMatchObject({step: 'parent', status: 'failed', error: `cannot start the command: ${message}`})
    }
    const bad = await runWith({FLEET_AGENT_LAUNCHER: 'fast'})
    expect(bad.records.find((x) => x.type === 'step-end')).toMatchObject({status: 'failed', error: 'cannot start the command: FLEET_AGENT_LAUNCHER is "fast"; it must be python or node'})
  })

  it('when the agent is killed, the launcher exits and leaves the running step alone, as Node did', async () => {
    const home = tempDir()
    const pb = playbook(home, `  - id: parent\n    run: |\n      ${PARENT}; echo $$\n      while [ ! -f ${home}/go ]; do sleep 0.05; done\n`)
    const child = spawn(process.execPath, [AGENT, 'run', '-p', pb, '--state-dir', join(home, 'state'), '--json'], {env: {...process.env, HOME: home, FLEET_AGENT_LAUNCHER: 'python'}, stdio: ['ignore', 'pipe', 'ignore']})
    let text = ''
    child.stdout.on('data', (d) => (text += d))
    await waitUntil('the step runs', () => outputOf(ndjson(text.slice(0, text.lastIndexOf('\n') + 1)), 'parent').split('\n').length > 2)
    const [launcher, bash] = outputOf(ndjson(text.slice(0, text.lastIndexOf('\n') + 1)), 'parent').trim().split('\n').map(Number)
    const closed = new Promise((r) => child.on('close', r))
    child.kill('SIGKILL')
    await closed
    await waitUntil('the launcher has exited', () => gone(launcher), 5000)
    expect(gone(bash)).toBe(false)
    writeFileSync(join(home, 'go'), '')
    await waitUntil('the step ends by itself', () => gone(bash), 5000)
  })
})
