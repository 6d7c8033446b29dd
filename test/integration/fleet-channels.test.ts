/**
 * What one host's prepare costs in SSH session channels (each an exec: a session and a shell
 * on the host), counted in the host's own sshd log (LogLevel DEBUG: one "ctype session" line
 * per channel opened): a fresh host with a vars file takes three (the probe, the bundle's tar,
 * the streaming start carrying the vars file on its stdin), a host that has the bundle two.
 * And the vars file still arrives whole, mode 0600, without the run inheriting that umask.
 * A real loopback sshd.
 */
import {createHash} from 'node:crypto'
import {readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startLocalHosts, type LocalHostSet} from '../../testbed/index.js'
import {tempDir} from '../helpers/agent-cli.js'
import {fleet} from '../helpers/fleet-cli.js'

let set: LocalHostSet
let dir = ''

beforeAll(async () => {
  set = await startLocalHosts({count: 1, prefix: 'fleet-ch', logLevel: 'DEBUG'})
  dir = tempDir()
}, 120_000)

afterAll(async () => {
  await set?.stop()
})

const channels = () => readFileSync(set.hosts[0]!.logFile, 'utf8').split('\n').filter((l) => /server_input_channel_open: ctype session/.test(l)).length

describe('session channels per host', () => {
  it('a fresh host: probe, bundle, and one streaming start with the vars on its stdin; with the bundle there, two', async () => {
    const h = set.hosts[0]!
    const hosts = join(dir, 'hosts.txt')
    writeFileSync(hosts, set.hostsFileText())
    const pb = join(dir, 'umask.yaml')
    writeFileSync(pb, 'name: umask\nvars:\n  token: {secret: true}\nsteps:\n  - id: note\n    run: umask > "$HOME/umask.txt" && echo {{ token }} | sha256sum > "$HOME/token.sha"\n')
    const vars = join(dir, 'vars.yaml')
    writeFileSync(vars, 'token: s3cret-channels\n')
    const before = channels()
    const first = await fleet(['prepare', '-H', hosts, '--db', join(dir, 'fleet.db'), '-p', pb, '--vars', vars])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(channels() - before).toBe(3)
    // The vars file arrived whole, 0600; the run kept the login's umask, not the file's 077.
    const [file, ...more] = readdirSync(join(h.home, '.fleet/vars'))
    expect(more).toEqual([])
    expect(JSON.parse(readFileSync(join(h.home, '.fleet/vars', file!), 'utf8'))).toEqual({token: 's3cret-channels'})
    expect(statSync(join(h.home, '.fleet/vars', file!)).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(h.home, 'umask.txt'), 'utf8').trim()).not.toBe('0077')
    expect(readFileSync(join(h.home, 'token.sha'), 'utf8')).toContain(createHash('sha256').update('s3cret-channels\n').digest('hex'))

    const again = channels()
    const second = await fleet(['prepare', '-H', hosts, '--db', join(dir, 'fleet.db'), '-p', pb, '--vars', vars])
    expect(second.code, second.stdout + second.stderr).toBe(0)
    expect(channels() - again).toBe(2)
  })
})
