/**
 * What a bundle carries, end to end: a room folder that holds the instructor's private key,
 * fleet.db, a stray log, the hosts file and another playbook beside the playbook. A real
 * `fleet prepare` to a real loopback sshd ships exactly the playbook, its template and its
 * listed helper script; a listed secret, paths out of the folder and escaping symlinks are
 * refused before any host is contacted and before any database is created; and
 * `fleet prepare --dry-run` shows the bundle without contacting anyone. Of the agent, a host
 * gets only what its runs load (no oclif, YAML reader or schemas), and says so in one
 * sentence when asked for more; the bundle goes gzipped where the host has gzip.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startLocalHosts, type LocalHost, type LocalHostSet} from '../../testbed/index.js'
import {FleetStore} from '../../src/store/store.js'
import {agent, tempDir} from '../helpers/agent-cli.js'
import {fleet, resetHosts} from '../helpers/fleet-cli.js'

let set: LocalHostSet
let host: LocalHost
let top: string
let room: string
let hostsFile: string
let outside: string

const ROOM_PLAYBOOK = `name: room
vars:
  work: "{{ facts.home }}/room-work"
files: [scripts/hello.sh]
steps:
  - id: dir
    check: test -d {{ work }}
    run: mkdir -p {{ work }}
  - id: motd
    template: {src: templates/motd.conf, dest: "{{ work }}/motd.conf", mode: "0644"}
  - id: hello
    check: test -f {{ work }}/hello.done
    run: bash {{ playbook_dir }}/scripts/hello.sh {{ work }}
`

beforeAll(async () => {
  set = await startLocalHosts({count: 1, prefix: 'fleet-tb'})
  host = set.hosts[0]
  top = tempDir('fleet-bundle-')
  room = join(top, 'room')
  outside = join(top, 'outside')
  mkdirSync(join(room, 'templates'), {recursive: true})
  mkdirSync(join(room, 'scripts'), {recursive: true})
  mkdirSync(outside)
  // What an instructor keeps in the room's folder, beside the playbook.
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'room', '-f', join(room, 'id_ed25519')])
  const db = FleetStore.open(join(room, 'fleet.db'))
  db.close()
  writeFileSync(join(room, 'prepare.log'), 'yesterday: 30 hosts ok\n')
  hostsFile = join(room, 'hosts.txt')
  writeFileSync(hostsFile, set.hostsFileText())
  writeFileSync(join(room, 'other.yaml'), 'name: other\nsteps:\n  - {id: one, run: "true"}\n')
  // A filter: more than plain substitution, so the host's agent renders it with LiquidJS.
  writeFileSync(join(room, 'templates', 'motd.conf'), 'Welcome to {{ facts.hostname | upcase }}\n')
  writeFileSync(join(room, 'templates', 'unused.conf'), 'not referenced\n')
  writeFileSync(join(room, 'scripts', 'hello.sh'), 'echo hello from the helper > "$1/hello.done"\n')
  writeFileSync(join(room, 'scripts', 'unlisted.sh'), 'echo never shipped\n')
  writeFileSync(join(room, 'room.yaml'), ROOM_PLAYBOOK)
  writeFileSync(join(outside, 'secret.txt'), 'the outside world\n')
}, 120_000)

afterAll(async () => {
  await set?.stop()
})

/** Every file under the host's ~/.fleet/bundles/*\/playbooks/, relative to that folder. */
function shippedPlaybookFiles(h: LocalHost): string[] {
  const bundles = join(h.home, '.fleet', 'bundles')
  const out: string[] = []
  for (const b of readdirSync(bundles).filter((n) => !n.startsWith('.'))) {
    const base = join(bundles, b, 'playbooks')
    for (const f of readdirSync(base, {recursive: true}).map(String)) if (statSync(join(base, f)).isFile()) out.push(f)
  }
  return out.sort()
}

/** The one bundle folder on the host. */
function shippedBundle(h: LocalHost): string {
  const bundles = join(h.home, '.fleet', 'bundles')
  const names = readdirSync(bundles).filter((n) => !n.startsWith('.'))
  expect(names).toHaveLength(1)
  return join(bundles, names[0])
}

/** The host's non-interactive shells (bash reads ~/.bashrc for an SSH command) find only these programs of /usr/bin and /bin, plus `extra`. */
function hostPath(h: LocalHost, leaveOut: string[], extra: Record<string, string> = {}): string {
  const bin = join(h.home, 'path-bin')
  rmSync(bin, {recursive: true, force: true})
  mkdirSync(bin)
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin']) for (const n of readdirSync(dir)) if (!leaveOut.includes(n) && !existsSync(join(bin, n))) symlinkSync(join(dir, n), join(bin, n))
  for (const [n, text] of Object.entries(extra)) writeFileSync(join(bin, n), text, {mode: 0o755})
  writeFileSync(join(h.home, '.bashrc'), `export PATH=${bin}\n`)
  return bin
}

function restorePath(h: LocalHost): void {
  rmSync(join(h.home, '.bashrc'), {force: true})
  rmSync(join(h.home, 'path-bin'), {recursive: true, force: true})
}

/** The sshd's log grows with any connection, even one that never logs in. */
const logSize = () => statSync(host.logFile).size

/** Run fleet expecting a refusal before anything: exit 2, one sentence, no database, the host not contacted. */
async function expectRefused(args: string[], pattern: RegExp): Promise<string> {
  resetHosts(set)
  const db = join(tempDir(), 'fleet.db')
  const before = logSize()
  const r = await fleet(['prepare', '--hosts', hostsFile, '--db', db, ...args])
  expect(r.code, r.stdout + r.stderr).toBe(2)
  expect(r.stdout).toBe('')
  const lines = r.stderr.trim().split('\n')
  expect(lines, r.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(pattern)
  expect(existsSync(db)).toBe(false)
  expect(existsSync(join(host.home, '.fleet'))).toBe(false)
  expect(logSize()).toBe(before)
  return lines[0]
}

describe('the bundle carries exactly what the playbook references', {timeout: 120_000}, () => {
  it('a real prepare ships the playbook, its template and its listed script, and nothing else of the folder', async () => {
    resetHosts(set)
    const db = join(top, 'run.db')
    const r = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', join(room, 'room.yaml')])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    // And the playbook compiled by the dry run, beside it (what the host's agent loads).
    expect(shippedPlaybookFiles(host)).toEqual(['room.yaml', 'room.yaml.compiled.json', 'scripts/hello.sh', 'templates/motd.conf'])
    // The listed script and the template were there for the steps to use.
    expect(readFileSync(join(host.home, 'room-work', 'hello.done'), 'utf8')).toBe('hello from the helper\n')
    expect(readFileSync(join(host.home, 'room-work', 'motd.conf'), 'utf8')).toMatch(/^Welcome to /)
    // Nothing of the key reached the host.
    const keyLine = readFileSync(join(room, 'id_ed25519'), 'utf8').split('\n')[1]
    const grep = spawnSync('grep', ['-rlF', '-e', keyLine, join(host.home, '.fleet')], {encoding: 'utf8'})
    expect(grep.status, grep.stdout).toBe(1)
  })

  it('refuses to ship a listed private key or database: one sentence naming it, exit 2, no fleet.db, no host contacted', async () => {
    const key = readFileSync(join(room, 'id_ed25519'), 'utf8')
    writeFileSync(join(room, 'leak.yaml'), ROOM_PLAYBOOK.replace('name: room', 'name: leak').replace('files: [scripts/hello.sh]', 'files: [scripts/hello.sh, id_ed25519]'))
    const line = await expectRefused(['--playbook', join(room, 'leak.yaml')], /^Error: refusing to ship \S+\/room\/id_ed25519 to the hosts: it holds a private key; keep secrets out of the playbook's files: list \(README: "What goes into a bundle"\)\.$/)
    expect(line).not.toContain(key.split('\n')[1])
    writeFileSync(join(room, 'leak.yaml'), ROOM_PLAYBOOK.replace('name: room', 'name: leak').replace('files: [scripts/hello.sh]', 'files: [scripts/hello.sh, fleet.db]'))
    await expectRefused(['--playbook', join(room, 'leak.yaml')], /^Error: refusing to ship \S+\/room\/fleet\.db to the hosts: it is an SQLite database/)
    // A whole folder listed: the key in it is found by its content, whatever its name.
    mkdirSync(join(room, 'keys'), {recursive: true})
    writeFileSync(join(room, 'keys', 'deploy'), key)
    writeFileSync(join(room, 'leak.yaml'), ROOM_PLAYBOOK.replace('name: room', 'name: leak').replace('files: [scripts/hello.sh]', 'files: [scripts/hello.sh, keys]'))
    await expectRefused(['--playbook', join(room, 'leak.yaml')], /^Error: refusing to ship \S+\/room\/keys\/deploy to the hosts: it holds a private key/)
  })

  it('refuses at load, with file, line and field, a template.src or files: entry that climbs out, and symlinks that escape', async () => {
    writeFileSync(join(room, 'shadow.yaml'), 'name: shadow\nsteps:\n  - id: steal\n    template: {src: ../../../../etc/shadow, dest: /tmp/shadow}\n')
    await expectRefused(['--playbook', join(room, 'shadow.yaml')], /^Error: \S+\/room\/shadow\.yaml:4: field "steps\[steal\]\.template\.src": \.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow climbs out of the playbook's folder/)
    writeFileSync(join(room, 'climb.yaml'), 'name: climb\nfiles:\n  - scripts/hello.sh\n  - ../outside\nsteps:\n  - {id: one, run: "true"}\n')
    await expectRefused(['--playbook', join(room, 'climb.yaml')], /^Error: \S+\/room\/climb\.yaml:4: field "files\[1\]": \.\.\/outside climbs out of the playbook's folder/)
    symlinkSync(outside, join(room, 'shared'))
    writeFileSync(join(room, 'link.yaml'), 'name: link\nfiles: [shared]\nsteps:\n  - {id: one, run: "true"}\n')
    await expectRefused(['--playbook', join(room, 'link.yaml')], new RegExp(`^Error: \\S+/room/link\\.yaml:2: field "files\\[0\\]": shared resolves \\(through a symlink\\) to ${outside}, outside the playbook's folder\\.$`))
    symlinkSync(join(outside, 'secret.txt'), join(room, 'templates', 'sneaky.conf'))
    writeFileSync(join(room, 'link.yaml'), 'name: link\nsteps:\n  - id: t\n    template: {src: templates/sneaky.conf, dest: /tmp/x}\n')
    await expectRefused(['--playbook', join(room, 'link.yaml')], /^Error: \S+\/room\/link\.yaml:4: field "steps\[t\]\.template\.src": templates\/sneaky\.conf resolves \(through a symlink\) to .*outside\/secret\.txt, outside the playbook's folder/)
  })

  it('fleet prepare --dry-run lists the bundle with sizes and the total, contacts nothing, creates no database', async () => {
    resetHosts(set)
    const cwd = tempDir()
    const before = logSize()
    const human = await fleet(['prepare', '--dry-run', '--hosts', hostsFile, '--playbook', join(room, 'room.yaml')], {cwd})
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toContain('Dry run of fleet prepare: playbook room')
    expect(human.stdout).toContain('3 steps, 1 host (')
    const size = (rel: string) => statSync(join(room, rel)).size
    for (const rel of ['room.yaml', 'scripts/hello.sh', 'templates/motd.conf']) expect(human.stdout).toMatch(new RegExp(`\\b${size(rel)}\\s+\\S+ \\S*B\\s+playbooks/${rel.replace('.', '\\.')}\\n`))
    expect(human.stdout).toMatch(/^Bundle [0-9a-f]{16}: \d+ files, \d+ bytes/m)
    expect(human.stdout).toMatch(/^Total: \d+ bytes \(.*\); sent as one gzipped tar of \d+ bytes/m)
    const listed = human.stdout.split('\n').filter((l) => /^\s+\d+\s/.test(l))
    expect(listed.slice(0, -1).map((l) => l.trim().split(/\s+/).pop())).toEqual(['playbooks/room.yaml', 'playbooks/room.yaml.compiled.json', 'playbooks/scripts/hello.sh', 'playbooks/templates/motd.conf'])
    expect(listed.at(-1)).toMatch(/\s+the agent: 3 files \(agent\.mjs, the entry; agent-main\.mjs, the agent; liquid\.mjs, for templates\)$/)
    for (const never of ['id_ed25519', 'fleet.db', 'prepare.log', 'hosts.txt', 'other.yaml', 'unused.conf', 'unlisted.sh']) expect(listed.join('\n')).not.toContain(never)

    const json = await fleet(['prepare', '--dry-run', '--json', '--playbook', join(room, 'room.yaml')], {cwd})
    expect(json.code, json.stderr).toBe(0)
    const d = JSON.parse(json.stdout)
    expect(d).toMatchObject({dry_run: true, mode: 'run', playbook: {name: 'room'}, steps: 3, hosts: null})
    const files = (d.bundle.files as Array<{path: string; bytes: number}>).filter((f) => f.path.startsWith('playbooks/') && !f.path.endsWith('.compiled.json'))
    expect(files).toEqual(['room.yaml', 'scripts/hello.sh', 'templates/motd.conf'].map((rel) => ({path: `playbooks/${rel}`, bytes: size(rel)})))
    expect(d.bundle.files.some((f: {path: string}) => f.path === 'agent.mjs')).toBe(true)
    expect(d.bundle.bytes).toBe(d.bundle.files.reduce((n: number, f: {bytes: number}) => n + f.bytes, 0))
    expect(d.bundle.gzip_bytes).toBeGreaterThan(0)
    expect(d.bundle.gzip_bytes).toBeLessThan(d.bundle.bytes / 2)

    const cleanup = await fleet(['cleanup', '--dry-run', '--json', '--hosts', hostsFile, '--playbook', join(room, 'room.yaml')], {cwd})
    expect(cleanup.code, cleanup.stderr).toBe(0)
    expect(JSON.parse(cleanup.stdout)).toMatchObject({dry_run: true, mode: 'undo', hosts: 1, bundle: {hash: d.bundle.hash}})

    expect(readdirSync(cwd)).toEqual([])
    expect(existsSync(join(host.home, '.fleet'))).toBe(false)
    expect(logSize()).toBe(before)
  })
})

describe('what of the agent a host gets, and how', {timeout: 120_000}, () => {
  const whole = resolve('dist/agent')
  const hostAgent = resolve('dist/agent-host')
  const bytes = (dir: string) => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0)

  it('the agent without oclif, the YAML reader and the schemas: three files, a fraction of the whole', async () => {
    resetHosts(set)
    const r = await fleet(['prepare', '--hosts', hostsFile, '--db', join(tempDir(), 'fleet.db'), '--playbook', join(room, 'room.yaml')])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const dir = shippedBundle(host)
    const agentFiles = readdirSync(dir).filter((n) => n !== 'playbooks' && !n.startsWith('.'))
    expect(agentFiles.sort()).toEqual(['agent-main.mjs', 'agent.mjs', 'liquid.mjs'])
    for (const f of agentFiles) expect(readFileSync(join(dir, f)).equals(readFileSync(join(hostAgent, f))), f).toBe(true)
    // What is left out is the bulk of the agent (oclif, yaml, zod).
    expect(bytes(hostAgent)).toBeLessThan(bytes(whole) / 4)
    // The template's filter was rendered on the host by LiquidJS, from liquid.mjs.
    expect(readFileSync(join(host.home, 'room-work', 'motd.conf'), 'utf8')).toBe(`Welcome to ${hostname().toUpperCase()}\n`)
  })

  it('the shipped agent answers what it cannot do in one sentence, and what fleet asks of it as the whole agent does', async () => {
    const dir = shippedBundle(host)
    const home = tempDir()
    const state = join(home, 'state')
    const help = await agent(['--help'], {home, agentPath: join(dir, 'agent.mjs')})
    expect(help.code).toBe(2)
    expect(help.stderr.trim().split('\n')).toHaveLength(1)
    expect(help.stderr).toMatch(/^Error: This agent is the part of it that fleet ships to hosts, without its help and full command line: .*dist\/agent in fleet's package\.$/m)

    // The playbook as shipped runs from its compiled form; changed on the host, it is refused (no YAML reader here).
    const ok = await agent(['run', '--playbook', join(dir, 'playbooks/room.yaml'), '--state-dir', state], {home, agentPath: join(dir, 'agent.mjs')})
    expect(ok.code, ok.stderr).toBe(0)
    expect(readFileSync(join(home, 'room-work', 'hello.done'), 'utf8')).toBe('hello from the helper\n')
    rmSync(state, {recursive: true})
    const copy = join(home, 'copy')
    execFileSync('cp', ['-r', dir, copy])
    writeFileSync(join(copy, 'playbooks/room.yaml'), readFileSync(join(copy, 'playbooks/room.yaml'), 'utf8') + '# changed on the host\n')
    const changed = await agent(['run', '--playbook', join(copy, 'playbooks/room.yaml'), '--state-dir', state], {home, agentPath: join(copy, 'agent.mjs')})
    expect(changed.code).toBe(2)
    expect(changed.stderr).toMatch(/without the YAML reader: it runs a playbook only beside the compiled form/)
    expect(existsSync(join(state, 'runs'))).toBe(false)
    // The whole agent still reads it (its dry run always reads the YAML).
    const whole = await agent(['run', '--dry-run', '--json', '--playbook', join(copy, 'playbooks/room.yaml'), '--state-dir', state], {home})
    expect(whole.code, whole.stderr).toBe(0)
    expect(JSON.parse(whole.stdout).steps.map((s: {id: string}) => s.id)).toEqual(['dir', 'motd', 'hello'])

    // `agent logs --json` (what collect-logs asks) answers from the fast path, no oclif needed.
    const logs = await agent(['logs', '--json', '--playbook', join(dir, 'playbooks/room.yaml'), '--state-dir', state], {home, agentPath: join(dir, 'agent.mjs')})
    expect(logs.code, logs.stderr).toBe(0)
    expect(JSON.parse(logs.stdout)).toMatchObject({state_dir: state, playbook: join(dir, 'playbooks/room.yaml'), paths: []})
  })

  it('the bundle goes gzipped to a host with gzip, and as a plain tar to one without', async () => {
    // A gzip that notes each call, then none at all.
    const calls = join(host.home, 'gzip-calls')
    rmSync(calls, {force: true})
    hostPath(host, ['gzip'], {gzip: `#!/bin/sh\necho "$*" >> ${calls}\nexec /bin/gzip "$@"\n`})
    try {
      resetHosts(set)
      const a = await fleet(['prepare', '--hosts', hostsFile, '--db', join(tempDir(), 'fleet.db'), '--playbook', join(room, 'room.yaml')])
      expect(a.code, a.stdout + a.stderr).toBe(0)
      expect(readFileSync(calls, 'utf8')).toMatch(/^-d/m)
      expect(shippedPlaybookFiles(host)).toEqual(['room.yaml', 'room.yaml.compiled.json', 'scripts/hello.sh', 'templates/motd.conf'])

      hostPath(host, ['gzip'])
      rmSync(calls, {force: true})
      resetHosts(set)
      rmSync(join(host.home, 'room-work'), {recursive: true, force: true})
      const b = await fleet(['prepare', '--hosts', hostsFile, '--db', join(tempDir(), 'fleet.db'), '--playbook', join(room, 'room.yaml')])
      expect(b.code, b.stdout + b.stderr).toBe(0)
      expect(existsSync(calls)).toBe(false)
      expect(shippedPlaybookFiles(host)).toEqual(['room.yaml', 'room.yaml.compiled.json', 'scripts/hello.sh', 'templates/motd.conf'])
      expect(readFileSync(join(host.home, 'room-work', 'hello.done'), 'utf8')).toBe('hello from the helper\n')
    } finally {
      restorePath(host)
    }
  })
})

/** Every module of fleet's own build, as one text. */
function fleetBuildText(): string {
  const dir = resolve('dist/fleet')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n')
}

describe("fleet's own build", () => {
  it("carries zod with English messages alone, and imports no zod from node_modules (its ~100 modules and 50 languages cost every command's start)", () => {
    const text = fleetBuildText()
    expect(text).toMatch(/_zod/) // bundled
    expect(text).not.toMatch(/from\s*["']zod(\/[^"']*)?["']/)
    expect(text).toContain('Invalid input') // English, from zod/v4/locales/en.js
    expect(text).not.toContain('Ungültige Eingabe') // German, from zod/v4/locales/de.js
  })

  it("carries better-sqlite3's JavaScript and string-width (each start of `fleet status` loads them), and imports neither from node_modules", () => {
    const text = fleetBuildText()
    expect(text).toContain('Misspelled option "readOnly" should be "readonly"') // better-sqlite3's lib/database.js
    expect(text).toContain('better-sqlite3/build/Release/better_sqlite3.node') // its addon, loaded from the package (src/store/sqlite.ts)
    expect(text).not.toMatch(/(?:from\s*|import\(\s*)["'](?:better-sqlite3|string-width|strip-ansi)(?:\/[^"']*)?["']/)
  })
})
