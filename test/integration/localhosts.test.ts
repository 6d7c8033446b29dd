import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startLocalHosts, type LocalHost, type LocalHostSet} from '../../testbed/index.js'
import {isAlive} from '../../testbed/machine/procs.js'

/** OpenSSH's own client, so these tests do not depend on the transport under test. */
function ssh(h: LocalHost, command: string): string {
  return execFileSync(
    'ssh',
    ['-i', h.identityFile, '-p', String(h.port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', `${h.user}@${h.address}`, command],
    {encoding: 'utf8', timeout: 20_000},
  )
}

describe('local hosts', () => {
  let set: LocalHostSet
  beforeAll(async () => {
    set = await startLocalHosts({count: 3, prefix: 'fleet-tl'})
  })
  afterAll(async () => {
    await set?.stop()
  })

  it('gives each host its own account, address, clean home and passwordless sudo', () => {
    const addresses = new Set(set.hosts.map((h) => `${h.address}:${h.port}`))
    expect(addresses.size).toBe(3)
    for (const h of set.hosts) {
      expect(h.address).toMatch(/^127\.\d+\.\d+\.\d+$/)
      const out = ssh(h, 'id -un; pwd; ls -A; sudo -n id -u')
      expect(out).toBe(`${h.user}\n${h.home}\n.ssh\n0\n`)
      expect(h.hostKeyPublic).toMatch(/^ssh-ed25519 AAAA/)
    }
    const sudoers = `/etc/sudoers.d/fleet-localhosts-fleet-tl`
    expect(statSync(sudoers).mode & 0o777).toBe(0o440)
    expect(readFileSync('/etc/shadow', 'utf8')).toMatch(new RegExp(`^${set.hosts[0].user}:\\*:`, 'm'))
  })

  it('writes the hosts file and known_hosts lines', () => {
    const lines = set.hostsFileText().trim().split('\n')
    expect(lines).toHaveLength(3)
    const h = set.hosts[1]
    expect(lines[1]).toBe(`${h.user}@${h.address}:${h.port} name=${h.name} identity=${h.identityFile}`)
    expect(set.knownHostsText().split('\n')[1]).toBe(`[${h.address}]:${h.port} ${h.hostKeyPublic}`)
  })

  it('the host key served is the one reported, and rotateHostKey changes it', async () => {
    const h = set.hosts[2]
    const scan = (): string => execFileSync('ssh-keyscan', ['-t', 'ed25519', '-p', String(h.port), h.address], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim()
    expect(scan()).toBe(`[${h.address}]:${h.port} ${h.hostKeyPublic}`)
    const before = h.hostKeyPublic
    const oldPid = h.sshdPid
    await set.rotateHostKey(h)
    expect(h.hostKeyPublic).not.toBe(before)
    expect(h.sshdPid).not.toBe(oldPid)
    expect(scan()).toBe(`[${h.address}]:${h.port} ${h.hostKeyPublic}`)
  })

  it('killSessions kills the per-connection sshd processes, not the listener', async () => {
    const h = set.hosts[0]
    const child = (await import('node:child_process')).spawn(
      'ssh',
      ['-i', h.identityFile, '-p', String(h.port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', `${h.user}@${h.address}`, 'sleep 30'],
      {stdio: 'ignore'},
    )
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    for (let i = 0; i < 100 && set.sessionPids(h).length < 2; i++) await new Promise((r) => setTimeout(r, 50))
    const killed = set.killSessions(h)
    expect(killed.length).toBeGreaterThanOrEqual(1)
    expect(killed).not.toContain(h.sshdPid)
    expect(await exited).not.toBe(0)
    expect(isAlive(h.sshdPid!)).toBe(true)
    expect(ssh(h, 'echo still')).toBe('still\n')
  })

  it('stopHost makes a host refuse connections; startHost brings it back', async () => {
    const h = set.hosts[1]
    await set.stopHost(h)
    expect(h.sshdPid).toBeUndefined()
    expect(() => ssh(h, 'true')).toThrow()
    await set.startHost(h)
    expect(ssh(h, 'echo up')).toBe('up\n')
  })

  it('refuses a second running set with the same prefix', async () => {
    await expect(startLocalHosts({count: 1, prefix: 'fleet-tl'})).rejects.toThrow(/already running/)
  })
})

describe('local hosts lifecycle', () => {
  it('reuses accounts, and stop() removes its sshds, dirs, homes and sudoers file', async () => {
    const first = await startLocalHosts({count: 2, prefix: 'fleet-tm'})
    const uid = first.hosts[0].uid
    await first.stop()
    const set = await startLocalHosts({count: 2, prefix: 'fleet-tm'})
    expect(set.hosts[0].uid).toBe(uid)
    expect(set.timings.accountsMs).toBeLessThan(2000)
    const pids = set.hosts.map((h) => h.sshdPid!)
    const {baseDir} = set
    const homes = set.hosts.map((h) => h.home)
    await set.stop()
    for (const pid of pids) expect(isAlive(pid)).toBe(false)
    expect(existsSync(baseDir)).toBe(false)
    for (const home of homes) expect(existsSync(home)).toBe(false)
    expect(existsSync('/etc/sudoers.d/fleet-localhosts-fleet-tm')).toBe(false)
    expect(readdirSync('/run/fleet-localhosts').filter((f) => f.includes('fleet-tm'))).toEqual([])
  })
})
