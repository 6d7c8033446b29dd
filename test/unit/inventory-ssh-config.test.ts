import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {loadInventory, type HostSpec} from '../../src/inventory/index.js'
import {problemsOf, workspaces} from '../helpers/inventory-workspace.js'

const workspace = workspaces('fleet-inventory-sshconfig-')

function byName(hosts: HostSpec[]): Record<string, HostSpec> {
  return Object.fromEntries(hosts.map((h) => [h.name, h]))
}


describe('merging ~/.ssh/config', () => {
  it('applies the precedence hosts-file line > ssh config > flags > built-in, value by value', () => {
    const w = workspace()
    for (const key of ['cfg_key', 'line_key', 'flag_key']) w.write(`.ssh/${key}`, 'KEY')
    w.write(
      '.ssh/config',
      [
        'Host alice-lab',
        '  HostName 10.0.2.11',
        '  User cfguser',
        '  Port 2201',
        '  IdentityFile ~/.ssh/cfg_key',
        '',
        'Host *.example.org !secret.example.org',
        '  User wilduser',
        '',
        'Host *',
        '  # does not exist: skipped, as OpenSSH does',
        '  IdentityFile ~/.ssh/missing_key',
      ].join('\n'),
    )
    const file = w.write(
      'hosts.txt',
      [
        'alice-lab',
        'alice-lab user=linebob port=2999 name=alice2 identity=~/.ssh/line_key',
        'x.example.org',
        'secret.example.org',
        '10.9.9.9',
      ].join('\n'),
    )
    const inv = loadInventory(file, {
      env: w.env,
      sshConfigPath: w.config,
      defaults: {user: 'flaguser', port: 2022, identity: join(w.dir, '.ssh/flag_key')},
    })
    const key = (k: string) => [join(w.dir, '.ssh', k)]
    expect(inv.hosts.map((h) => [h.name, h.address, h.user, h.port, h.identityFiles])).toEqual([
      // The alias is the name; the address comes from HostName; everything else from the config.
      ['alice-lab', '10.0.2.11', 'cfguser', 2201, key('cfg_key')],
      // The line wins over the config for user, port, identity and name.
      ['alice2', '10.0.2.11', 'linebob', 2999, key('line_key')],
      // The config's user wins over the flag; the flag's port and identity fill in.
      ['x.example.org', 'x.example.org', 'wilduser', 2022, key('flag_key')],
      // A negated pattern rules the block out.
      ['secret.example.org', 'secret.example.org', 'flaguser', 2022, key('flag_key')],
      ['10.9.9.9', '10.9.9.9', 'flaguser', 2022, key('flag_key')],
    ])
    expect(inv.sshConfigPath).toBe(w.config)
    expect(inv.precedence).toEqual(['hosts-file', 'ssh-config', 'flags', 'built-in'])
  })

  it('takes the first obtained value, matches "?" as exactly one character and keywords in any case', () => {
    const w = workspace()
    w.write(
      '.ssh/config',
      ['host lab?', '  port 2300', '  USER=first', 'Host lab*', '  Port 2400', '  User second', 'Host *', '  Port 2500'].join('\n'),
    )
    const file = w.write('hosts.txt', 'lab1\nlab10\nlab\nLAB2\n')
    const hosts = byName(loadInventory(file, {env: w.env, sshConfigPath: w.config}).hosts)
    expect([hosts.lab1?.port, hosts.lab1?.user]).toEqual([2300, 'first'])
    expect([hosts.lab10?.port, hosts.lab10?.user]).toEqual([2400, 'second'])
    // "?" is one character, not "zero or one".
    expect([hosts.lab?.port, hosts.lab?.user]).toEqual([2400, 'second'])
    // Host patterns match case-insensitively.
    expect(hosts.LAB2?.port).toBe(2300)
  })

  it('evaluates Match host/originalhost/user, and never runs Match exec', () => {
    const w = workspace()
    const marker = join(w.dir, 'MARKER')
    w.write(
      '.ssh/config',
      [
        `Match exec "touch ${marker}"`, // 1
        '  Port 9999',
        'Host bravo',
        '  HostName 10.0.3.5',
        'Match host 10.0.3.*', // 5: the HostName, not the alias
        '  Port 2500',
        'Match originalhost charlie user deploy',
        '  Port 2600',
        'Match !host 10.0.3.*',
        '  User notbravo',
      ].join('\n'),
    )
    const file = w.write('hosts.txt', 'bravo\ndeploy@charlie\nother@charlie name=charlie2\n')
    const inv = loadInventory(file, {env: w.env, sshConfigPath: w.config})
    const hosts = byName(inv.hosts)
    expect([hosts.bravo?.address, hosts.bravo?.port, hosts.bravo?.user]).toEqual(['10.0.3.5', 2500, 'ubuntu'])
    expect([hosts.charlie?.port, hosts.charlie?.user]).toEqual([2600, 'deploy'])
    expect([hosts.charlie2?.port, hosts.charlie2?.user]).toEqual([22, 'other'])
    expect(existsSync(marker)).toBe(false)
    expect(inv.warnings).toEqual([`${w.config}:1: Match exec is not evaluated by fleet; that block was not applied.`])
  })

  it('follows Include (relative to ~/.ssh, with globs) only inside an applying block', () => {
    const w = workspace()
    w.write('.ssh/conf.d/10-delta.conf', 'Host delta\n  HostName 10.0.4.4\n  User deltauser\n')
    w.write('.ssh/conf.d/20-echo.conf', 'Host echo\n  HostName 10.0.4.5\n')
    w.write('.ssh/only-for-nobody.conf', 'User wrong\n')
    // After an Include, the including file's state is back: "User everyone" is still top level.
    w.write('.ssh/config', ['Include conf.d/*.conf', 'User everyone', 'Host nobody', '  Include only-for-nobody.conf'].join('\n'))
    const file = w.write('hosts.txt', 'delta\necho\n')
    const hosts = byName(loadInventory(file, {env: w.env, sshConfigPath: w.config}).hosts)
    expect([hosts.delta?.address, hosts.delta?.user]).toEqual(['10.0.4.4', 'deltauser'])
    expect([hosts.echo?.address, hosts.echo?.user]).toEqual(['10.0.4.5', 'everyone'])
  })

  it('resolves ProxyJump and the jump host itself through the config; jump= and jump=none win', () => {
    const w = workspace()
    w.write(
      '.ssh/config',
      ['Host bastion', '  HostName 203.0.113.10', '  User ops', '  Port 2022', 'Host 10.0.5.*', '  ProxyJump bastion'].join('\n'),
    )
    const file = w.write('hosts.txt', '10.0.5.5\n10.0.5.6 jump=none\n10.0.5.7 jump=other.example.org:2200\n10.0.6.1 jump=bastion\n')
    const hosts = loadInventory(file, {env: w.env, sshConfigPath: w.config}).hosts
    expect(hosts.map((h) => h.jump)).toEqual([
      {address: '203.0.113.10', port: 2022, user: 'ops'},
      undefined,
      {address: 'other.example.org', port: 2200, user: 'ubuntu'},
      {address: '203.0.113.10', port: 2022, user: 'ops'},
    ])
  })

  it('expands ~, %-tokens and ${VAR} in IdentityFile', () => {
    const w = workspace()
    w.write('.ssh/keys/tokuser-tok', 'KEY')
    w.write('keys-from-env/id', 'KEY')
    w.write(
      '.ssh/config',
      ['Host tok', '  HostName 10.0.6.6', '  User tokuser', '  IdentityFile %d/.ssh/keys/%r-%n', 'Host envy', '  IdentityFile ${KEYDIR}/id'].join('\n'),
    )
    const file = w.write('hosts.txt', 'tok\nenvy\n')
    const env = {...w.env, KEYDIR: join(w.dir, 'keys-from-env')}
    const hosts = byName(loadInventory(file, {env, sshConfigPath: w.config}).hosts)
    expect(hosts.tok?.identityFiles).toEqual([join(w.dir, '.ssh/keys/tokuser-tok')])
    expect(hosts.envy?.identityFiles).toEqual([join(w.dir, 'keys-from-env/id')])
  })

  it('reads ~/.ssh/config from HOME when no path is given, and none when the path is null', () => {
    const w = workspace()
    w.write('.ssh/config', 'Host foxtrot\n  HostName 10.0.7.7\n')
    const file = w.write('hosts.txt', 'foxtrot\n')
    const withDefault = loadInventory(file, {env: w.env})
    expect(withDefault.hosts[0]?.address).toBe('10.0.7.7')
    expect(withDefault.sshConfigPath).toBe(w.config)
    const without = loadInventory(file, {env: w.env, sshConfigPath: null})
    expect(without.hosts[0]?.address).toBe('foxtrot')
    expect(without.sshConfigPath).toBeNull()
  })

  it('reports bad ssh config values at their file and line, with the hosts-file problems', () => {
    const w = workspace()
    w.write('.ssh/config', ['Host golf', '  Port twenty', '  HostName bad_host!', 'Host hotel', '  ProxyJump a,b'].join('\n'))
    const file = w.write('hosts.txt', 'golf\nhotel\n10.0.0.1 port=0\n')
    expect(problemsOf(() => loadInventory(file, {env: w.env, sshConfigPath: w.config}))).toEqual([
      `${file}:3: field "port": "0" is not a port (1-65535).`,
      `${w.config}:2: field "Port": "twenty" is not a port (1-65535).`,
      `${w.config}:3: field "HostName": "bad_host!" is not an IPv4 address, IPv6 address or DNS name.`,
      `${w.config}:5: field "ProxyJump": "a,b" is a chain of jump hosts; fleet supports one jump host.`,
    ])
  })

  it('says so when an explicitly given ssh config cannot be read', () => {
    const w = workspace()
    const file = w.write('hosts.txt', '10.0.0.1\n')
    const missing = join(w.dir, 'nope/config')
    expect(problemsOf(() => loadInventory(file, {env: w.env, sshConfigPath: missing}))).toEqual([
      `${missing}: cannot read this ssh config: no such file.`,
    ])
  })
})
