import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {parseRecord, type JournalRecord} from '../../src/protocol/index.js'

export const AGENT = resolve('dist/agent/agent.mjs')

export interface Result {
  code: number | null
  stdout: string
  stderr: string
}

export function tempDir(prefix = 'fleet-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** Run the bundled agent as a real child process. HOME is the test's own, so demo work dirs do not collide. fd3: a pipe on fd 3 too (a streaming run writes there), collected in `fd3`. */
export function agent(args: string[], opts: {home: string; env?: Record<string, string>; cwd?: string; agentPath?: string; fd3?: boolean}): Promise<Result & {fd3: string}> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [opts.agentPath ?? AGENT, ...args], {
      cwd: opts.cwd,
      env: {...process.env, HOME: opts.home, NO_COLOR: '1', ...opts.env},
      stdio: ['ignore', 'pipe', 'pipe', opts.fd3 ? 'pipe' : 'ignore'],
    })
    let stdout = ''
    let stderr = ''
    let fd3 = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    ;(child.stdio[3] as NodeJS.ReadableStream | null)?.on('data', (d) => (fd3 += d))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({code, stdout, stderr, fd3}))
  })
}

export function agentSync(args: string[], opts: {home: string; env?: Record<string, string>}): Result {
  const r = spawnSync(process.execPath, [AGENT, ...args], {env: {...process.env, HOME: opts.home, ...opts.env}, encoding: 'utf8'})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

export function journalOf(stateDir: string, run: string): JournalRecord[] {
  const path = join(stateDir, 'runs', run, 'journal.jsonl')
  if (!existsSync(path)) return []
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(parseRecord)
}

export function lastRun(stateDir: string): string {
  return readFileSync(join(stateDir, 'last-run'), 'utf8').trim()
}

export async function waitUntil(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export function ndjson(text: string): JournalRecord[] {
  return text.split('\n').filter(Boolean).map(parseRecord)
}

/** The demo playbook's steps, in order. */
export const DEMO_STEPS = ['make-dir', 'write-config', 'stream-output', 'flaky', 'use-secret', 'start-service', 'wait-ready', 'summary']
