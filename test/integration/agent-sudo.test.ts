import {execFileSync, spawnSync} from 'node:child_process'
import {chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {AGENT} from '../helpers/agent-cli.js'
import {parseRecord} from '../../src/protocol/index.js'

// Two real accounts: one with passwordless sudo, one with none. The agent runs as each.
const WITH = 'fleet-t-sudo'
const WITHOUT = 'fleet-t-nosudo'
const SUDOERS = '/etc/sudoers.d/fleet-t-sudo'

function ensureUser(name: string): string {
  if (spawnSync('id', [name]).status !== 0) execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', name])
  execFileSync('usermod', ['-p', '*', name])
  return execFileSync('getent', ['passwd', name], {encoding: 'utf8'}).split(':')[5]
}

function runAs(user: string, home: string, args: string[]) {
  // The bundle is copied where any user can read it: the checkout may sit in a private directory.
  const r = spawnSync('runuser', ['-u', user, '--', process.execPath, join(dir, 'agent', 'agent.mjs'), ...args], {encoding: 'utf8', env: {PATH: process.env.PATH, HOME: home, NODE_ENV: 'production'}, cwd: home})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

let dir: string
const homes: Record<string, string> = {}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('this test makes users and needs root')
  homes[WITH] = ensureUser(WITH)
  homes[WITHOUT] = ensureUser(WITHOUT)
  writeFileSync(SUDOERS, `${WITH} ALL=(ALL) NOPASSWD: ALL\n`, {mode: 0o440})
  execFileSync('visudo', ['-cf', SUDOERS])
  dir = mkdtempSync('/tmp/fleet-sudo-')
  chmodSync(dir, 0o755)
  cpSync(join(AGENT, '..'), join(dir, 'agent'), {recursive: true})
})

afterAll(() => {
  rmSync(SUDOERS, {force: true})
  rmSync(dir, {recursive: true, force: true})
})

function playbook(marker: string): string {
  const pb = join(dir, `root-${marker}.yaml`)
  writeFileSync(
    pb,
    `name: root
vars:
  marker: ${join(dir, marker)}
steps:
  - id: as-user
    run: id -un
  - id: as-root
    needs_root: true
    env: {GREETING: hello}
    check: test -f {{ marker }}
    run: |
      echo "$GREETING from $(id -un)"
      touch {{ marker }}
  - id: root-file
    needs_root: true
    template: {src: root.conf, dest: ${join(dir, marker + '.conf')}, mode: "0600"}
`,
  )
  writeFileSync(join(dir, 'root.conf'), 'written for {{ facts.user }}\n')
  chmodSync(pb, 0o644)
  chmodSync(join(dir, 'root.conf'), 0o644)
  return pb
}

describe('needs_root', () => {
  it('runs through sudo -n when the agent is not root, with the step env', () => {
    const r = runAs(WITH, homes[WITH], ['run', '-p', playbook('m1'), '--state-dir', join(homes[WITH], 'state'), '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const recs = r.stdout.split('\n').filter(Boolean).map(parseRecord)
    const out = (step: string) => recs.filter((x) => x.type === 'output' && x.step === step).map((x) => (x.type === 'output' ? x.data : '')).join('')
    expect(out('as-user')).toBe(`${WITH}\n`)
    expect(out('as-root')).toBe('hello from root\n')
    const conf = join(dir, 'm1.conf')
    expect(readFileSync(conf, 'utf8')).toBe(`written for ${WITH}\n`)
    // Owned by root: it was written through sudo, not by the user.
    expect(execFileSync('stat', ['-c', '%U %a', conf], {encoding: 'utf8'}).trim()).toBe('root 600')
    // Again: the user cannot read that file, so its template check reads it through sudo, and skips.
    const again = runAs(WITH, homes[WITH], ['run', '-p', playbook('m1'), '--state-dir', join(homes[WITH], 'state-again'), '--json'])
    expect(again.code, again.stderr).toBe(0)
    const ends = again.stdout.split('\n').filter(Boolean).map(parseRecord).flatMap((x) => (x.type === 'step-end' ? [[x.step, x.status, x.reason]] : []))
    expect(ends).toEqual([['as-user', 'ok', undefined], ['as-root', 'skipped', 'check'], ['root-file', 'skipped', 'check']])
  })

  it('says clearly, before running anything, when sudo wants a password', () => {
    const marker = join(dir, 'm2')
    const r = runAs(WITHOUT, homes[WITHOUT], ['run', '-p', playbook('m2'), '--state-dir', join(homes[WITHOUT], 'state')])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(`Error: Playbook root: steps that need root run through sudo, and sudo asks for a password for ${WITHOUT}; give ${WITHOUT} passwordless sudo (NOPASSWD) or run the agent as root.\n`)
    expect(existsSync(marker)).toBe(false)
    expect(existsSync(join(homes[WITHOUT], 'state'))).toBe(false)
  })

  it('the default state dir of a user who is not root is under ~/.local/state', () => {
    const r = runAs(WITH, homes[WITH], ['run', '-p', playbook('m3'), '--only', 'as-user'])
    expect(r.code).toBe(0)
    expect(existsSync(join(homes[WITH], '.local/state/fleet-agent/last-run'))).toBe(true)
  })
})
