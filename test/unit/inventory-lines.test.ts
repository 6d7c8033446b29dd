import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {loadInventory, parseHostsText, type ParsedHost} from '../../src/inventory/index.js'
import {workspaces} from '../helpers/inventory-workspace.js'

const workspace = workspaces('fleet-inventory-lines-')

/** The plain values of a parsed host, for compact assertions. */
function plain(h: ParsedHost) {
  return {
    line: h.source.line,
    target: h.target.value,
    name: h.name?.value,
    user: h.user?.value,
    port: h.port?.value,
    identity: h.identityFiles.map((i) => i.value),
    jump: h.jump?.value,
    transport: h.transport?.value,
  }
}

describe('parseHostsText: the native format', () => {
  it('reads every accepted form of a host line, in file order, with line numbers', () => {
    const text = [
      '# the room', // 1
      '', // 2
      '10.0.0.5', // 3
      'alice@10.0.0.6   # trailing comment', // 4
      '10.0.0.7:2222', // 5
      'bob@lab.example.org:2200', // 6
      '[2001:db8::5]:2222', // 7
      '2001:db8::6', // 8
      'carol@[2001:db8::7]', // 9
      '   ', // 10
      'lab-3 name=dave-lab identity=~/.ssh/workshop jump=ops@bastion.example.org:2022 port=2201 user=dave transport=ssh', // 11
      'lab-4 identity="~/my keys/id one" identity=/keys/two jump=none', // 12
      '[2001:db8::8]', // 13
    ].join('\n')
    const parsed = parseHostsText(text, 'hosts.txt')
    expect(parsed.problems).toEqual([])
    expect(parsed.format).toBe('hosts')
    expect(parsed.hosts.map(plain)).toEqual([
      {line: 3, target: '10.0.0.5', identity: []},
      {line: 4, target: '10.0.0.6', user: 'alice', identity: []},
      {line: 5, target: '10.0.0.7', port: 2222, identity: []},
      {line: 6, target: 'lab.example.org', user: 'bob', port: 2200, identity: []},
      {line: 7, target: '2001:db8::5', port: 2222, identity: []},
      {line: 8, target: '2001:db8::6', identity: []},
      {line: 9, target: '2001:db8::7', user: 'carol', identity: []},
      {
        line: 11,
        target: 'lab-3',
        name: 'dave-lab',
        user: 'dave',
        port: 2201,
        identity: ['~/.ssh/workshop'],
        jump: {host: 'bastion.example.org', port: 2022, user: 'ops'},
        transport: 'ssh',
      },
      {line: 12, target: 'lab-4', identity: ['~/my keys/id one', '/keys/two'], jump: null},
      {line: 13, target: '2001:db8::8', identity: []},
    ])
    expect(parsed.hosts.every((h) => h.valid)).toBe(true)
  })

  it('accepts CRLF line endings and a byte order mark', () => {
    const parsed = parseHostsText('\uFEFF10.0.0.5 port=2200\r\n10.0.0.6\r\n', 'hosts.txt')
    expect(parsed.problems).toEqual([])
    expect(parsed.hosts.map((h) => [h.target.value, h.port?.value])).toEqual([
      ['10.0.0.5', 2200],
      ['10.0.0.6', undefined],
    ])
  })

  it('reports malformed fields, unknown keys and bad values with their line and field', () => {
    const text = [
      '10.0.0.5 colour=blue', // 1
      '10.0.0.6 port', // 2
      '10.0.0.7 port=0', // 3
      '10.0.0.8:22 port=22', // 4
      '10.0.0.9 name=a/b', // 5
      '10.0.0.300', // 6
      '10.0.0.10 user=-oProxyCommand=x', // 7
      'name=x 10.0.0.11', // 8
      '10.0.0.12 transport=telnet', // 9
      '2001:db8::zz', // 10
      '[lab.example.org]:22', // 11
      '10.0.0.13 jump=a.example.org,b.example.org', // 12
      '10.0.0.14 identity="unclosed', // 13
      '10.0.0.15 name=a name=b', // 14
      '10.0.0.16 port=', // 15
    ].join('\n')
    const sentences = parseHostsText(text, 'hosts.txt').problems.map((p) =>
      `${p.file}:${p.line}${p.field ? ` [${p.field}]` : ''} ${p.message}`,
    )
    expect(sentences).toEqual([
      'hosts.txt:1 unknown field "colour" (known: name, identity, jump, transport, port, user, role).',
      'hosts.txt:2 "port" is not a key=value field (one address per line).',
      'hosts.txt:3 [port] "0" is not a port (1-65535).',
      'hosts.txt:4 [port] the address "10.0.0.8:22" already gives a port; give it once.',
      'hosts.txt:5 [name] "a/b" is not a safe name (letters, digits, ".", "_" and "-" only, at most 255).',
      'hosts.txt:6 "10.0.0.300" is not a valid IPv4 address.',
      expect.stringMatching(/^hosts\.txt:7 \[user\] "-oProxyCommand=x" is not a valid user name/),
      'hosts.txt:8 the line starts with a field ("name=x"); write the host address first.',
      'hosts.txt:9 [transport] "telnet" is not a transport (ssh or ssm).',
      'hosts.txt:10 "2001:db8::zz" is not a valid IPv6 address (write an IPv6 address with a port as [ADDRESS]:PORT).',
      'hosts.txt:11 "[lab.example.org]:22": brackets are only for IPv6 addresses.',
      'hosts.txt:12 [jump] "a.example.org,b.example.org" is a chain of jump hosts; fleet supports one jump host.',
      'hosts.txt:13 a double quote is not closed.',
      'hosts.txt:14 [name] is given twice; give it once.',
      'hosts.txt:15 [port] has no value.',
    ])
  })

  it('reads role=cache, and refuses another role or a role given twice, with line and field', () => {
    const parsed = parseHostsText('10.0.0.5 role=cache name=cache\n10.0.0.6\n', 'hosts.txt')
    expect(parsed.problems).toEqual([])
    expect(parsed.hosts.map((h) => [h.target.value, h.role?.value])).toEqual([
      ['10.0.0.5', 'cache'],
      ['10.0.0.6', undefined],
    ])
    const bad = parseHostsText('10.0.0.5 role=proxy\n10.0.0.6 role=cache role=cache\n10.0.0.7 role=\n', 'hosts.txt')
    expect(bad.problems.map((p) => `${p.file}:${p.line}${p.field ? ` [${p.field}]` : ''} ${p.message}`)).toEqual([
      'hosts.txt:1 [role] "proxy" is not a role (the only one is cache).',
      'hosts.txt:2 [role] is given twice; give it once.',
      'hosts.txt:3 [role] has no value.',
    ])
    expect(bad.hosts.map((h) => h.valid)).toEqual([false, false, false])
  })

  it('marks a host whose fields had problems as not valid, but still lists it', () => {
    const parsed = parseHostsText('10.0.0.5 port=99999\n10.0.0.6\n', 'hosts.txt')
    expect(parsed.hosts.map((h) => [h.target.value, h.valid])).toEqual([
      ['10.0.0.5', false],
      ['10.0.0.6', true],
    ])
  })

  it('does not take a whole-line bracketed IPv6 address for an INI section', () => {
    expect(parseHostsText('[2001:db8::5]\n[::1]:2222\n', 'hosts.txt').format).toBe('hosts')
    expect(parseHostsText('[web]\n10.0.0.5\n', 'hosts.ini').format).toBe('ansible-ini')
  })

  it('recognizes a YAML inventory and says it is not supported', () => {
    const parsed = parseHostsText('# yaml\nall:\n  hosts:\n    a:\n', 'hosts.yml')
    expect(parsed.problems).toEqual([
      {file: 'hosts.yml', line: 2, message: 'this looks like a YAML inventory; fleet reads hosts files and Ansible INI inventories only.'},
    ])
  })
})

describe('parseHostsText: SSM hosts', () => {
  it('accepts 17- and 8-digit instance ids and infers transport=ssm from the id', () => {
    const parsed = parseHostsText(
      'i-0123456789abcdef0 transport=ssm name=erin\ni-0abc1234\ni-deadbeef transport=ssh\n',
      'hosts.txt',
    )
    expect(parsed.problems).toEqual([])
    expect(parsed.hosts.map((h) => [h.target.value, h.transport?.value, h.name?.value])).toEqual([
      ['i-0123456789abcdef0', 'ssm', 'erin'],
      ['i-0abc1234', 'ssm', undefined],
      ['i-deadbeef', 'ssh', undefined],
    ])
  })

  it('refuses bad instance ids and ssh-only fields on SSM hosts', () => {
    const text = [
      'i-0123 transport=ssm', // 1
      'i-0123456789abcdef0 user=ubuntu', // 2
      'ubuntu@i-0123456789abcdef0:22', // 3
      'i-0123456789abcdef0 transport=ssm identity=~/.ssh/id jump=bastion', // 4
      'i-0abc12345', // 5: 9 digits, looks like an id but is not one
      'i-0123456789ABCDEF0 transport=ssm', // 6: upper case
    ].join('\n')
    const problems = parseHostsText(text, 'hosts.txt').problems.map((p) => `${p.line} ${p.field ?? '-'} ${p.message}`)
    expect(problems).toEqual([
      '1 - "i-0123" is not an EC2 instance id ("i-" followed by 8 or 17 lowercase hex digits).',
      '2 user does not apply to an SSM host (transport=ssm).',
      '3 user does not apply to an SSM host (transport=ssm).',
      '3 port does not apply to an SSM host (transport=ssm).',
      '4 jump does not apply to an SSM host (transport=ssm).',
      '4 identity does not apply to an SSM host (transport=ssm).',
      '5 - "i-0abc12345" looks like an EC2 instance id but is not one ("i-" followed by 8 or 17 lowercase hex digits); add transport=ssh if it is a DNS name.',
      '6 - "i-0123456789ABCDEF0" is not an EC2 instance id ("i-" followed by 8 or 17 lowercase hex digits).',
    ])
  })

  it('lets an SSM host be the cache host', () => {
    const w = workspace()
    const file = w.write('hosts.txt', 'i-0123456789abcdef0 role=cache\n')
    expect(loadInventory(file, {env: w.env, sshConfigPath: null}).hosts).toEqual([
      {
        name: 'i-0123456789abcdef0',
        address: 'i-0123456789abcdef0',
        port: 22,
        user: 'ubuntu',
        identityFiles: [],
        transport: 'ssm',
        role: 'cache',
        source: {file, line: 1},
      },
    ])
  })

  it('resolves an SSM host without ssh config, identity or jump', () => {
    const w = workspace()
    w.write('.ssh/config', 'Host *\n  User nobody\n  ProxyJump bastion\n')
    const file = w.write('hosts.txt', 'i-0123456789abcdef0\n')
    const inv = loadInventory(file, {env: w.env, sshConfigPath: join(w.dir, '.ssh/config'), defaults: {identity: '/nonexistent/key'}})
    expect(inv.hosts).toEqual([
      {
        name: 'i-0123456789abcdef0',
        address: 'i-0123456789abcdef0',
        port: 22,
        user: 'ubuntu',
        identityFiles: [],
        transport: 'ssm',
        source: {file, line: 1},
      },
    ])
  })
})

describe('loadInventory: the native format with defaults', () => {
  it('fills flag defaults and built-in defaults, expands ~ and resolves paths from the hosts file', () => {
    const w = workspace()
    w.write('.ssh/workshop', 'KEY')
    w.write('rooms/keys/alice', 'KEY')
    w.write('flag-key', 'KEY')
    const file = w.write(
      'rooms/hosts.txt',
      [
        '10.0.0.5 identity=~/.ssh/workshop', // line wins
        '10.0.0.6 identity=keys/alice user=alice port=2222', // relative to the hosts file
        '10.0.0.7', // flags
        '[2001:db8::5]:2200',
      ].join('\n'),
    )
    const inv = loadInventory(file, {
      env: w.env,
      sshConfigPath: null,
      cwd: w.dir,
      defaults: {user: 'trainer', port: 2022, identity: 'flag-key'},
    })
    expect(inv.format).toBe('hosts')
    expect(inv.hosts.map((h) => [h.name, h.address, h.user, h.port, h.identityFiles])).toEqual([
      ['10.0.0.5', '10.0.0.5', 'trainer', 2022, [join(w.dir, '.ssh/workshop')]],
      ['10.0.0.6', '10.0.0.6', 'alice', 2222, [join(w.dir, 'rooms/keys/alice')]],
      ['10.0.0.7', '10.0.0.7', 'trainer', 2022, [join(w.dir, 'flag-key')]],
      // An IPv6 address's ":" cannot be in a folder name: the default name writes it as "-".
      ['2001-db8--5', '2001:db8::5', 'trainer', 2200, [join(w.dir, 'flag-key')]],
    ])
    expect(inv.precedence).toEqual(['hosts-file', 'ssh-config', 'flags', 'built-in'])
  })

  it('uses ubuntu, port 22 and the OpenSSH default keys that exist when nothing else is given', () => {
    const w = workspace()
    w.write('.ssh/id_rsa', 'KEY')
    w.write('.ssh/id_ed25519', 'KEY')
    const file = w.write('hosts.txt', 'lab.example.org\n')
    const [host] = loadInventory(file, {env: w.env, sshConfigPath: null}).hosts
    expect(host).toMatchObject({user: 'ubuntu', port: 22, identityFiles: [join(w.dir, '.ssh/id_ed25519'), join(w.dir, '.ssh/id_rsa')]})
  })

  it('resolves jump= with its own defaults (port 22, the default user)', () => {
    const w = workspace()
    const file = w.write('hosts.txt', '10.0.0.5 jump=bastion.example.org\n10.0.0.6 jump=ops@[2001:db8::1]:2022\n')
    const inv = loadInventory(file, {env: w.env, sshConfigPath: null, defaults: {user: 'trainer'}})
    expect(inv.hosts.map((h) => h.jump)).toEqual([
      {address: 'bastion.example.org', port: 22, user: 'trainer'},
      {address: '2001:db8::1', port: 2022, user: 'ops'},
    ])
  })

  it('carries role=cache onto the HostSpec of that host only', () => {
    const w = workspace()
    const file = w.write('hosts.txt', '10.0.0.5 name=alice\n10.0.0.6 name=cache role=cache\n')
    const inv = loadInventory(file, {env: w.env, sshConfigPath: null})
    expect(inv.hosts.map((h) => [h.name, h.role])).toEqual([
      ['alice', undefined],
      ['cache', 'cache'],
    ])
    expect(inv.hosts[0]).not.toHaveProperty('role')
  })

  it('sets useAgent from SSH_AUTH_SOCK', () => {
    const w = workspace()
    const file = w.write('hosts.txt', '10.0.0.5\n')
    expect(loadInventory(file, {env: w.env, sshConfigPath: null}).useAgent).toBe(false)
    const withAgent = loadInventory(file, {env: {...w.env, SSH_AUTH_SOCK: '/tmp/agent.sock'}, sshConfigPath: null})
    expect(withAgent.useAgent).toBe(true)
    expect(withAgent.agentSocket).toBe('/tmp/agent.sock')
  })
})
