/**
 * A reader that goes away (`fleet status | head`, a pager quit) ends the output, not in a stack
 * trace: the built CLIs as child processes, their stdout a real pipe whose reading end the test
 * closes before they write.
 */
import {spawn} from 'node:child_process'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {FleetStore} from '../../src/store/store.js'
import {tempDir} from '../helpers/agent-cli.js'
import {FLEET} from '../helpers/fleet-cli.js'

/** Run `file args` with nobody reading its stdout; its exit code and what it said on stderr. */
function withoutReader(file: string, args: string[]): Promise<{code: number | null; stderr: string}> {
  const child = spawn(process.execPath, [file, ...args], {env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
  child.stdout.destroy()
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  return new Promise((res, rej) => {
    child.on('error', rej)
    child.on('close', (code) => res({code, stderr}))
  })
}

function roomStore(hosts: number): string {
  const db = join(tempDir(), 'fleet.db')
  const store = FleetStore.open(db)
  for (let i = 0; i < hosts; i++) store.upsertHost({name: `lab-${String(i + 1).padStart(3, '0')}`, address: `10.0.${i >> 8}.${i & 255}`, user: 'ubuntu'})
  store.close()
  return db
}

describe('a closed reader', () => {
  it('fleet status: exits with its own code and no EPIPE on stderr', async () => {
    const r = await withoutReader(FLEET, ['status', '--db', roomStore(5)])
    expect(r.stderr).toBe('')
    // Pending hosts: not every host is ok.
    expect(r.code).toBe(1)
  })

  it('fleet status --watch on a room still pending stops once nobody reads it', async () => {
    const r = await withoutReader(FLEET, ['status', '--db', roomStore(3), '--watch'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(1)
  }, 15_000)

  it('the agent as hosts get it: `agent status --json` exits 0, no EPIPE on stderr', async () => {
    const r = await withoutReader(resolve('dist/agent-host/agent.mjs'), ['status', '--json', '--state-dir', join(tempDir(), 'state')])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  })
})
