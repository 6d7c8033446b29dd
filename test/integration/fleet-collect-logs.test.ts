import {execFileSync} from 'node:child_process'
import {existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startLocalHosts, type LocalHost, type LocalHostSet} from '../../testbed/index.js'
import {fetchArchive} from '../../src/logs/fetch.js'
import {shellJoin} from '../../src/shell/quote.js'
import {MemoryHostKeyStore} from '../../src/transport/known-hosts.js'
import {SshTransport} from '../../src/transport/ssh.js'
import {agent, tempDir} from '../helpers/agent-cli.js'
import {fleet, hostJournals, hostStateDir, resetHosts} from '../helpers/fleet-cli.js'

const SECRET = 'demo-s3cret-7f3a9c'

interface HostReport {
  name: string
  ok: boolean
  files: number
  bytes: number
  error?: string
  missing?: string[]
  refused?: Array<{path: string; reason: string}>
}

let set: LocalHostSet
let dir: string
let hostsFile: string
let db: string

beforeAll(async () => {
  set = await startLocalHosts({count: 4, prefix: 'fleet-tc'})
  dir = tempDir('fleet-collect-')
  hostsFile = join(dir, 'hosts.txt')
  writeFileSync(hostsFile, set.hostsFileText())
  db = join(dir, 'fleet.db')
  resetHosts(set)
  const r = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'demo'])
  expect(r.code, r.stdout + r.stderr).toBe(0)
}, 180_000)

afterAll(async () => {
  await set?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

/** Every path under `root` (relative), symlinks not followed. */
function tree(root: string): string[] {
  const out: string[] = []
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n)
      out.push(rel + n)
      if (lstatSync(p).isDirectory()) walk(p, `${rel}${n}/`)
    }
  }
  if (existsSync(root)) walk(root, '')
  return out.sort()
}

function filesUnder(root: string): string[] {
  return tree(root).filter((p) => lstatSync(join(root, p)).isFile())
}

async function collect(args: string[]): Promise<{code: number | null; report: {out: string; tar?: string; hosts: HostReport[]}; stderr: string}> {
  const r = await fleet(['collect-logs', '--hosts', hostsFile, '--db', db, '--json', ...args], {cwd: dir})
  expect(r.stderr, r.stderr).toBe('')
  return {code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr}
}

function expectHostFolder(out: string, h: LocalHost): void {
  const folder = join(out, h.name)
  // The agent's state dir: every journal, identical to the host's, and the step logs.
  const journals = hostJournals(h)
  expect(journals.size).toBeGreaterThan(0)
  const agentDir = join(folder, 'agent')
  expect(tree(agentDir)).toEqual(tree(hostStateDir(h)))
  for (const f of filesUnder(hostStateDir(h))) expect(readFileSync(join(agentDir, f), 'utf8'), f).toBe(readFileSync(join(hostStateDir(h), f), 'utf8'))
  for (const run of journals.keys()) {
    const local = join(agentDir, 'runs', run)
    expect(existsSync(join(local, 'journal.jsonl'))).toBe(true)
    for (const step of ['stream-output', 'flaky', 'use-secret', 'summary']) expect(existsSync(join(local, 'logs', `${step}.log`)), step).toBe(true)
    expect(readFileSync(join(local, 'logs', 'stream-output.log'), 'utf8')).toContain('working on item 5 of 5')
  }
  // The demo's declared log path, ~/fleet-demo, under its full path.
  const demo = join(folder, 'files', h.home, 'fleet-demo')
  expect(readFileSync(join(demo, 'report.txt'), 'utf8')).toBe(readFileSync(join(h.home, 'fleet-demo', 'report.txt'), 'utf8'))
  expect(readFileSync(join(demo, 'report.txt'), 'utf8')).toContain('hello from fleet')
  expect(existsSync(join(demo, 'token.sha256'))).toBe(true)
  // The secret was used on the host (its step ran) but is in no collected file.
  expect(readFileSync(join(folder, 'agent', 'runs', [...journals.keys()][0], 'logs', 'use-secret.log'), 'utf8')).toContain('calling the API with token')
  for (const f of filesUnder(folder)) expect(readFileSync(join(folder, f)).includes(SECRET), f).toBe(false)
  if (existsSync(join(h.home, 'fleet-demo', 'service.log'))) expect(readFileSync(join(demo, 'service.log'), 'utf8')).toBe('started\nauth token=******** accepted\n')
}

// Generous: the suite shares two cores with whatever else runs.
describe('fleet collect-logs over real SSH', {timeout: 120_000}, () => {
  it("brings every host's journals, step logs and declared paths home, one folder per host, without the secret", async () => {
    // Links in a declared folder that point out of it must not come home as links.
    const h1 = set.hosts[0]
    symlinkSync('/etc', join(h1.home, 'fleet-demo', 'escape-abs'))
    symlinkSync('../../../../..', join(h1.home, 'fleet-demo', 'escape-up'))
    // A declared log file that has the secret in it (as a service's log might): it must come home redacted.
    writeFileSync(join(h1.home, 'fleet-demo', 'service.log'), `started\nauth token=${SECRET} accepted\n`)
    symlinkSync('report.txt', join(h1.home, 'fleet-demo', 'report-link'))
    try {
      const out = join(dir, 'all')
      const {code, report} = await collect(['--out', out])
      expect(code).toBe(0)
      expect(report.out).toBe(out)
      expect(report.hosts.map((h) => h.name).sort()).toEqual(set.hosts.map((h) => h.name))
      for (const h of report.hosts) expect(h, JSON.stringify(h)).toMatchObject({ok: true})
      expect(readdirSync(out).sort()).toEqual(set.hosts.map((h) => h.name))
      for (const h of set.hosts) {
        expectHostFolder(out, h)
        const r = report.hosts.find((x) => x.name === h.name)!
        expect(r.files).toBe(filesUnder(join(out, h.name)).length)
        expect(r.bytes).toBeGreaterThan(0)
      }
      const demo1 = join(out, h1.name, 'files', h1.home, 'fleet-demo')
      expect(existsSync(join(demo1, 'escape-abs'))).toBe(false)
      expect(existsSync(join(demo1, 'escape-up'))).toBe(false)
      expect(readlinkSync(join(demo1, 'report-link'))).toBe('report.txt')
      const refused = report.hosts.find((x) => x.name === h1.name)!.refused!
      expect(refused.map((r) => r.path.split('/').pop()).sort()).toEqual(['escape-abs', 'escape-up'])
      expect(refused[0].reason).toMatch(/symlink .*outside/)
    } finally {
      for (const l of ['escape-abs', 'escape-up', 'report-link']) rmSync(join(h1.home, 'fleet-demo', l), {force: true})
    }
  })

  it('--host limits to those hosts; human output has one line per host and a summary; the default folder is under ./fleet-logs', async () => {
    const h = set.hosts[2]
    const r = await fleet(['collect-logs', '--hosts', hostsFile, '--db', db, '--host', h.name], {cwd: dir})
    expect(r.stderr).toBe('')
    expect(r.code, r.stdout).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toMatch(new RegExp(`^${h.name} +ok +\\d+ files, `))
    const summary = lines.find((l) => l.startsWith('collect-logs:'))!
    expect(summary).toMatch(/^collect-logs: 1 of 1 hosts collected \(\d+ files, .*\) into (.*)$/)
    const out = summary.replace(/^.* into /, '')
    expect(out).toMatch(new RegExp(`^${dir}/fleet-logs/\\d{8}T\\d{6}Z$`))
    expect(readdirSync(out)).toEqual([h.name])
    expectHostFolder(out, h)
  })

  it('--tar writes a valid tar.gz holding the host folders', async () => {
    const out = join(dir, 'packed')
    const {code, report} = await collect(['--out', out, '--tar'])
    expect(code).toBe(0)
    expect(report.tar).toBe(`${out}.tar.gz`)
    const names = execFileSync('tar', ['-tzf', `${out}.tar.gz`], {encoding: 'utf8'}).trim().split('\n')
    for (const h of set.hosts) {
      const run = [...hostJournals(h).keys()][0]
      expect(names).toContain(`packed/${h.name}/agent/runs/${run}/journal.jsonl`)
      expect(names).toContain(`packed/${h.name}/files${h.home}/fleet-demo/report.txt`)
    }
    // Unpacked elsewhere, it is the same folder.
    const unpacked = join(dir, 'unpacked')
    mkdirSync(unpacked)
    execFileSync('tar', ['-xzf', `${out}.tar.gz`, '-C', unpacked])
    expect(tree(join(unpacked, 'packed'))).toEqual(tree(out))
  })

  it('reports an unreachable host and still collects the others', async () => {
    const down = set.hosts[1]
    await set.stopHost(down)
    try {
      const out = join(dir, 'partial')
      const {code, report} = await collect(['--out', out, '--connect-timeout', '5'])
      expect(code).toBe(1)
      const bad = report.hosts.find((h) => h.name === down.name)!
      expect(bad).toMatchObject({ok: false, files: 0, bytes: 0})
      expect(bad.error).toMatch(/refused/i)
      expect(existsSync(join(out, down.name))).toBe(false)
      for (const h of set.hosts.filter((x) => x !== down)) {
        expect(report.hosts.find((x) => x.name === h.name)).toMatchObject({ok: true})
        expectHostFolder(out, h)
      }
      const human = await fleet(['collect-logs', '--hosts', hostsFile, '--db', db, '--out', join(dir, 'partial-human'), '--connect-timeout', '5'], {cwd: dir})
      expect(human.code).toBe(1)
      expect(human.stdout).toMatch(new RegExp(`^${down.name} +FAILED +cannot connect .*refused`, 'mi'))
      expect(human.stdout).toContain(`collect-logs: ${set.hosts.length - 1} of ${set.hosts.length} hosts collected`)
      expect(human.stdout).toContain(`Not collected: ${down.name}.`)
    } finally {
      await set.startHost(down)
    }
  })

  it('declared paths missing on a host are listed, not fatal', async () => {
    const h = set.hosts[3]
    rmSync(join(h.home, 'fleet-demo'), {recursive: true, force: true})
    const {code, report} = await collect(['--out', join(dir, 'missing'), '--host', h.name])
    expect(code, JSON.stringify(report)).toBe(0)
    expect(report.hosts[0]).toMatchObject({ok: true, missing: [join(h.home, 'fleet-demo')]})
    expect(report.hosts[0].files).toBeGreaterThan(0)
  })

  it('bad input: unknown --host, no database, an --out that has the host folders already', async () => {
    const unknown = await fleet(['collect-logs', '--hosts', hostsFile, '--db', db, '--host', 'nope'], {cwd: dir})
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^Error: --host: no host named "nope" among the hosts/)
    const noDb = await fleet(['collect-logs', '--hosts', hostsFile, '--db', join(dir, 'none.db')], {cwd: dir})
    expect(noDb.code).toBe(2)
    expect(noDb.stderr).toMatch(/none\.db: no fleet database here/)
    expect(existsSync(join(dir, 'none.db'))).toBe(false)
    const again = await fleet(['collect-logs', '--hosts', hostsFile, '--db', db, '--out', join(dir, 'all')], {cwd: dir})
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/already has a folder for h001/)
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    // A vars file the redaction cannot read is said before any host is asked: no logs come home unredacted.
    const badVars = await fleet(['collect-logs', '--hosts', hostsFile, '--db', db, '--out', join(dir, 'unredacted'), '--vars', join(dir, 'nope.yaml')], {cwd: dir})
    expect(badVars.code).toBe(2)
    expect(badVars.stdout).toBe('')
    expect(badVars.stderr).toBe(`Error: the collected logs could not be cleaned of the playbook's secrets, so no host was asked for them: ${join(dir, 'nope.yaml')}: cannot read the vars file (no such file).\n`)
    expect(existsSync(join(dir, 'unredacted'))).toBe(false)
    writeFileSync(join(dir, 'a-file'), 'x\n')
    const outFile = await fleet(['collect-logs', '--hosts', hostsFile, '--db', db, '--out', join(dir, 'a-file', 'logs')], {cwd: dir})
    expect([outFile.code, outFile.stderr]).toEqual([2, `Error: --out: ${join(dir, 'a-file', 'logs')} cannot be made (a file is in the way); give another --out.\n`])
  })

  it('a hostile archive made by a real tar on the host cannot write outside the host folder', async () => {
    const h = set.hosts[0]
    // Targets the archive aims at, outside the folder it is extracted into.
    const outside = tempDir('fleet-outside-')
    const box = join(dir, 'hostile')
    const dest = join(box, h.name, 'files')
    const script = [
      'set -e',
      'rm -rf ~/hostile && mkdir ~/hostile && cd ~/hostile',
      'echo fine > fine.txt',
      'echo dotdot > dotdot.txt',
      'echo abs > abs.txt',
      'echo through > through.txt',
      'echo up > up.txt',
      'echo deep > deep.txt',
      `ln -s ${outside} link-out`,
      'ln -s ../../../../../../../../.. link-up',
      'ln -s fine.txt link-ok',
      'mkdir sub && ln -s sub link-sub',
      'echo hl > hl.txt && ln hl.txt hl2.txt',
      'mkfifo fifo',
      'echo suid > suid.sh && chmod 4755 suid.sh',
      // Member names rewritten to escape: "../", absolute (-P keeps them), and through the links.
      `tar -czf - -P --hard-dereference --no-recursion` +
        ` --transform 's,^dotdot.txt$,../../escape-dotdot.txt,'` +
        ` --transform ${shellJoin([`s,^abs.txt$,${outside}/abs.txt,`])}` +
        ` --transform 's,^through.txt$,link-out/through.txt,'` +
        ` --transform 's,^up.txt$,link-up/tmp/up.txt,'` +
        ` --transform 's,^deep.txt$,link-sub/../../deep.txt,'` +
        ' link-out link-up link-ok sub link-sub fine.txt dotdot.txt abs.txt through.txt up.txt deep.txt hl.txt fifo suid.sh',
    ].join('\n')
    // A hard link entry: GNU tar writes one for the second name of the same file (without --hard-dereference).
    const hardlinks = 'cd ~/hostile && tar -czf - hl.txt hl2.txt'
    const t = new SshTransport({host: h.address, port: h.port, username: h.user, identityFiles: [h.identityFile], agent: false, knownHosts: new MemoryHostKeyStore()})
    try {
      await t.connect()
      const a = await fetchArchive(t, script, dest)
      expect(a.result.code, a.result.stderr).toBe(0)
      const b = await fetchArchive(t, hardlinks, join(box, h.name, 'links'))
      expect(b.result.code, b.result.stderr).toBe(0)

      // Nothing outside: the targets are untouched and the box holds only the two folders.
      expect(readdirSync(outside)).toEqual([])
      expect(readdirSync(box)).toEqual([h.name])
      expect(readdirSync(join(box, h.name)).sort()).toEqual(['files', 'links'])
      expect(existsSync(join(dir, 'escape-dotdot.txt'))).toBe(false)
      expect(existsSync('/tmp/up.txt')).toBe(false)

      // What did land is plain files, folders and links that stay inside.
      expect(tree(dest)).toEqual(['fine.txt', 'hl.txt', 'link-ok', 'link-out', 'link-out/through.txt', 'link-sub', 'link-up', 'link-up/tmp', 'link-up/tmp/up.txt', 'sub', 'suid.sh'])
      expect(lstatSync(join(dest, 'link-out')).isDirectory()).toBe(true)
      expect(lstatSync(join(dest, 'link-up')).isDirectory()).toBe(true)
      expect(readlinkSync(join(dest, 'link-ok'))).toBe('fine.txt')
      expect(readlinkSync(join(dest, 'link-sub'))).toBe('sub')
      expect(statSync(join(dest, 'suid.sh')).mode & 0o7777).toBe(0o755)
      const reasons = Object.fromEntries(a.refused.map((r) => [r.path, r.reason]))
      expect(reasons['../../escape-dotdot.txt']).toMatch(/\.\./)
      expect(reasons[`${outside}/abs.txt`]).toMatch(/absolute/)
      expect(reasons['link-out']).toMatch(/symlink .*outside/)
      expect(reasons['link-up']).toMatch(/symlink .*outside/)
      expect(reasons['link-sub/../../deep.txt']).toMatch(/\.\./)
      expect(reasons.fifo).toMatch(/FIFO/)
      expect(tree(join(box, h.name, 'links'))).toEqual(['hl.txt'])
      expect(b.refused).toEqual([{path: 'hl2.txt', reason: 'a hard link to "hl.txt"'}])
    } finally {
      await t.close()
      rmSync(outside, {recursive: true, force: true})
      rmSync(join(h.home, 'hostile'), {recursive: true, force: true})
    }
  })
})

describe('agent logs', {timeout: 120_000}, () => {
  it("prints the state dir and the playbook's rendered log paths; without --vars it takes the newest run's vars", async () => {
    const home = tempDir('fleet-agent-logs-')
    try {
      const pb = join(home, 'room.yaml')
      writeFileSync(pb, ['name: room', 'vars:', '  bmc_password: {secret: true}', '  work: "{{ facts.home }}/work"', 'logs: ["{{ work }}/console", "relative/log", "/var/log/../log/libvirt"]', 'steps:', '  - {id: one, run: "true"}', ''].join('\n'))
      const vars = join(home, 'vars.yaml')
      writeFileSync(vars, 'bmc_password: pw-123\n')
      const state = join(home, 'state')
      // Before any run: the secret has no value, so the paths cannot be rendered; the state dir is still there.
      const before = await agent(['logs', '--playbook', pb, '--state-dir', state, '--json'], {home})
      expect(before.code).toBe(2)
      expect(JSON.parse(before.stdout)).toMatchObject({state_dir: state, paths: [], error: expect.stringMatching(/room\.yaml:3: field "vars\.bmc_password": has no value/)})
      const human = await agent(['logs', '--playbook', pb, '--state-dir', state], {home})
      expect(human.code).toBe(2)
      expect(human.stderr.trim().split('\n')).toHaveLength(1)

      expect((await agent(['run', '--playbook', pb, '--vars', vars, '--state-dir', state], {home})).code).toBe(0)
      const after = await agent(['logs', '--playbook', pb, '--state-dir', state, '--json'], {home})
      expect(after.code, after.stderr).toBe(0)
      const expected = {state_dir: state, playbook: pb, vars, paths: [join(home, 'work/console'), join(home, 'relative/log'), '/var/log/libvirt']}
      expect(JSON.parse(after.stdout)).toEqual(expected)
      // No --playbook: the last run's.
      expect(JSON.parse((await agent(['logs', '--state-dir', state, '--json'], {home})).stdout)).toEqual(expected)
      const text = await agent(['logs', '--state-dir', state], {home})
      expect(text.stdout).toBe(`state dir: ${state}\nplaybook: ${pb} (vars ${vars})\nlog path: ${join(home, 'work/console')}\nlog path: ${join(home, 'relative/log')}\nlog path: /var/log/libvirt\n`)
      expect(text.stdout.includes('pw-123')).toBe(false)
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })
})
