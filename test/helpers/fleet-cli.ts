import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {parseRecord, type JournalRecord} from '../../src/protocol/index.js'
import type {LocalHost, LocalHostSet} from '../../testbed/index.js'
import type {Result} from './agent-cli.js'

export const FLEET = resolve('dist/fleet/fleet.mjs')

/** Run the real fleet CLI as a child process. */
export function fleet(args: string[], opts: {env?: Record<string, string>; cwd?: string} = {}): Promise<Result> & {child: ChildProcess} {
  const child = spawn(process.execPath, [FLEET, ...args], {cwd: opts.cwd, env: {...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', ...opts.env}, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const p = new Promise<Result>((res, rej) => {
    child.on('error', rej)
    child.on('close', (code) => res({code, stdout, stderr}))
  }) as Promise<Result> & {child: ChildProcess}
  p.child = child
  return p
}

/** The agent's state dir on a local host (its user is not root). */
export function hostStateDir(h: LocalHost): string {
  return join(h.home, '.local', 'state', 'fleet-agent')
}

/** Every journal of every run on a host, read straight from its files: the truth to compare the database with. */
export function hostJournals(h: LocalHost): Map<string, JournalRecord[]> {
  const runs = join(hostStateDir(h), 'runs')
  const out = new Map<string, JournalRecord[]>()
  if (!existsSync(runs)) return out
  for (const run of readdirSync(runs)) {
    const file = join(runs, run, 'journal.jsonl')
    if (existsSync(file)) out.set(run, readFileSync(file, 'utf8').split('\n').filter(Boolean).map(parseRecord))
  }
  return out
}

/** Forget everything fleet and the demo left on the hosts, so each test starts clean. */
export function resetHosts(set: LocalHostSet): void {
  for (const h of set.hosts) for (const d of ['.fleet', '.local', 'fleet-demo', 'work']) rmSync(join(h.home, d), {recursive: true, force: true})
}
