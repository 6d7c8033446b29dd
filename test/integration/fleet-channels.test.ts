/**
 * What one host's prepare costs in SSH session channels (each an exec: a session and a shell
 * on the host), counted in the host's own sshd log (LogLevel DEBUG: one "ctype session" line
 * per channel opened): a fresh host with a vars file takes two (the probe, and the streaming
 * start carrying the bundle's tar, the vars file inside it, on its stdin), a host that has the
 * bundle two (the vars file alone on the start's stdin). The vars file still arrives whole,
 * mode 0600, without the run inheriting that umask; an upload that fails starts no agent and
 * says why. A real loopback sshd.
 */
import {createHash} from 'node:crypto'
import {existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startLocalHosts, type LocalHostSet} from '../../testbed/index.js'
import {tempDir} from '../helpers/agent-cli.js'
import {fleet} from '../helpers/fleet-cli.js'

let set: LocalHostSet
let dir = ''
let hosts = ''

beforeAll(async () => {
  set = await startLocalHosts({count: 1, prefix: 'fleet-ch', logLevel: 'DEBUG'})
  dir = tempDir()
  hosts = join(dir, 'hosts.txt')
  writeFileSync(hosts, set.hostsFileText())
}, 120_000)

afterAll(async () => {
  await set?.stop()
})

const channels = () => readFileSync(set.hosts[0]!.logFile, 'utf8').split('\n').filter((l) => /server_input_channel_open: ctype session/.test(l)).length

describe('session channels per host', () => {
  it('a fresh host: the probe, then one streaming start with the bundle and the vars on its stdin; with the bundle there, two', async () => {
    const h = set.hosts[0]!
    const pb = join(dir, 'umask.yaml')
    writeFileSync(pb, 'name: umask\nvars:\n  token: {secret: true}\nsteps:\n  - id: note\n    run: umask > "$HOME/umask.txt" && echo {{ token }} | sha256sum > "$HOME/token.sha"\n')
    const vars = join(dir, 'vars.yaml')
    writeFileSync(vars, 'token: s3cret-channels\n')
    const before = channels()
    const first = await fleet(['prepare', '-H', hosts, '--db', join(dir, 'fleet.db'), '-p', pb, '--vars', vars])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(channels() - before).toBe(2)
    // The vars file arrived whole, 0600; the run kept the login's umask, not the file's 077.
    const [file, ...more] = readdirSync(join(h.home, '.fleet/vars'))
    expect(more).toEqual([])
    expect(JSON.parse(readFileSync(join(h.home, '.fleet/vars', file!), 'utf8'))).toEqual({token: 's3cret-channels'})
    expect(statSync(join(h.home, '.fleet/vars', file!)).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(h.home, 'umask.txt'), 'utf8').trim()).not.toBe('0077')
    expect(readFileSync(join(h.home, 'token.sha'), 'utf8')).toContain(createHash('sha256').update('s3cret-channels\n').digest('hex'))
    // The bundle is in place, complete, without the vars file it carried or an upload folder left over.
    const [bundle, ...others] = readdirSync(join(h.home, '.fleet/bundles'))
    expect(others).toEqual([])
    expect(existsSync(join(h.home, '.fleet/bundles', bundle!, '.complete'))).toBe(true)
    expect(existsSync(join(h.home, '.fleet/bundles', bundle!, '.vars'))).toBe(false)

    const again = channels()
    const second = await fleet(['prepare', '-H', hosts, '--db', join(dir, 'fleet.db'), '-p', pb, '--vars', vars])
    expect(second.code, second.stdout + second.stderr).toBe(0)
    expect(channels() - again).toBe(2)
  })

  it('an upload that fails on the host starts no agent and names the bundle folder and the reason', async () => {
    const h = set.hosts[0]!
    const pb = join(dir, 'other.yaml')
    writeFileSync(pb, 'name: other\nsteps:\n  - id: note\n    run: touch "$HOME/other-ran"\n')
    // A file where the bundles folder should be: the host's mkdir fails, as on a read-only home.
    rmSync(join(h.home, '.fleet/bundles'), {recursive: true, force: true})
    writeFileSync(join(h.home, '.fleet/bundles'), 'not a folder\n')
    try {
      const r = await fleet(['prepare', '-H', hosts, '--db', join(dir, 'fail.db'), '-p', pb, '--json'])
      expect(r.code).not.toBe(0)
      const status = await fleet(['status', '--db', join(dir, 'fail.db'), '--json'])
      const row = JSON.parse(status.stdout).hosts[0]
      expect(row.state).toBe('failed')
      expect(row.error).toMatch(/^could not unpack the bundle into \.fleet\/bundles\/[0-9a-f]{16}: mkdir: .*(Not a directory|File exists)/)
      expect(existsSync(join(h.home, 'other-ran'))).toBe(false)
    } finally {
      rmSync(join(h.home, '.fleet/bundles'), {force: true})
    }
  })
})
