import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {UserError} from '../../src/errors/user-error.js'
import {InventoryError, loadInventory} from '../../src/inventory/index.js'
import {workspaces} from '../helpers/inventory-workspace.js'

const workspace = workspaces('fleet-inventory-load-')

function errorOf(load: () => unknown): Error {
  try {
    load()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected loading to fail')
}

describe('loadInventory: problems', () => {
  it('reports all problems at once, one sentence each, with file and line', () => {
    const w = workspace()
    w.write(
      'hosts.txt',
      [
        '# room 12', // 1
        '10.0.0.5 name=alice', // 2
        '10.0.0.6', // 3
        '10.0.0.7 port=70000', // 4: bad port
        '10.0.0.8 colour=blue', // 5: unknown key
        '', // 6
        '10.0.0.5:22', // 7: duplicate of line 2
        '10.0.0.9 identity=~/.ssh/missing', // 8: unreadable identity
      ].join('\n'),
    )
    const error = errorOf(() => loadInventory('hosts.txt', w.options()))
    expect(error).toBeInstanceOf(InventoryError)
    expect(error).toBeInstanceOf(UserError)
    expect(error.message).toBe(
      [
        'hosts.txt:4: field "port": "70000" is not a port (1-65535).',
        'hosts.txt:5: unknown field "colour" (known: name, identity, jump, transport, port, user, role).',
        'hosts.txt:7: 10.0.0.5 port 22 is already listed on line 2.',
        `hosts.txt:8: field "identity": cannot read the identity file "${join(w.dir, '.ssh/missing')}": no such file.`,
      ].join('\n'),
    )
    expect((error as InventoryError).problems.map((p) => p.line)).toEqual([4, 5, 7, 8])
  })

  it('names the hosts file in one sentence when it cannot be read', () => {
    const w = workspace()
    const missing = errorOf(() => loadInventory('nope.txt', w.options()))
    expect(missing).toBeInstanceOf(UserError)
    expect(missing).not.toBeInstanceOf(InventoryError)
    expect(missing.message).toBe('Cannot read the hosts file "nope.txt": no such file.')
    mkdirSync(join(w.dir, 'adir'))
    expect(errorOf(() => loadInventory('adir', w.options())).message).toBe('Cannot read the hosts file "adir": it is a directory.')
  })

  it('refuses a file with no hosts', () => {
    const w = workspace()
    w.write('hosts.txt', '# nobody yet\n\n')
    expect(errorOf(() => loadInventory('hosts.txt', w.options())).message).toBe('hosts.txt: the file lists no hosts.')
  })

  it('checks the flag defaults too, and reports a bad --identity once, not once per host', () => {
    const w = workspace()
    w.write('hosts.txt', '10.0.0.1\n10.0.0.2\n10.0.0.3\n')
    const error = errorOf(() => loadInventory('hosts.txt', w.options({defaults: {user: 'bad user', port: 0, identity: 'nokey'}})))
    expect(error.message.split('\n')).toEqual([
      `--identity: cannot read the identity file "${join(w.dir, 'nokey')}": no such file.`,
      expect.stringMatching(/^--port: "0" is not a port \(1-65535\)\.$/),
      expect.stringMatching(/^--user: "bad user" is not a valid user name/),
    ])
  })
})

describe('loadInventory: identity files', () => {
  it('reports an identity file that is missing or not a regular file', () => {
    const w = workspace()
    mkdirSync(join(w.dir, 'keys-dir'))
    w.write('hosts.txt', '10.0.0.1 identity=nokey\n10.0.0.2 identity=keys-dir\n')
    expect(errorOf(() => loadInventory('hosts.txt', w.options())).message.split('\n')).toEqual([
      `hosts.txt:1: field "identity": cannot read the identity file "${join(w.dir, 'nokey')}": no such file.`,
      `hosts.txt:2: field "identity": cannot read the identity file "${join(w.dir, 'keys-dir')}": it is not a regular file.`,
    ])
  })

  it('accepts readable identity files and keeps all of a line in order', () => {
    const w = workspace()
    w.write('a', 'KEY')
    w.write('b', 'KEY')
    w.write('hosts.txt', '10.0.0.1 identity=b identity=a\n')
    expect(loadInventory('hosts.txt', w.options()).hosts[0]?.identityFiles).toEqual([join(w.dir, 'b'), join(w.dir, 'a')])
  })
})

describe('loadInventory: duplicates', () => {
  it('finds the same address and port, however written, and the same name, in any case', () => {
    const w = workspace()
    w.write(
      'hosts.txt',
      [
        '10.0.0.5', // 1
        'ubuntu@10.0.0.5:22', // 2: same address and port
        '10.0.0.5:2222', // 3: another port, but the same default name
        '2001:db8::5', // 4
        '[2001:0db8:0:0::5]:22', // 5: the same IPv6 address spelled out
        'a.example.org name=Alice', // 6
        'b.example.org name=alice', // 7: names are folder names; case does not tell them apart
        'i-0123456789abcdef0', // 8
        'i-0123456789abcdef0 name=again', // 9
        'LAB.example.org', // 10
        'lab.example.org. port=22 name=lab2', // 11: DNS names are case-insensitive; trailing dot
      ].join('\n'),
    )
    expect(errorOf(() => loadInventory('hosts.txt', w.options())).message.split('\n')).toEqual([
      'hosts.txt:2: 10.0.0.5 port 22 is already listed on line 1.',
      'hosts.txt:3: the name "10.0.0.5" (from the address) is already used by line 1; give one of them a name= field.',
      'hosts.txt:5: 2001:0db8:0:0::5 port 22 is already listed on line 4.',
      'hosts.txt:7: field "name": the name "alice" is already used by line 6.',
      'hosts.txt:9: instance i-0123456789abcdef0 is already listed on line 8.',
      'hosts.txt:11: lab.example.org. port 22 is already listed on line 10.',
    ])
  })

  it('allows one address on different ports when named, and behind different jump hosts', () => {
    const w = workspace()
    w.write(
      'hosts.txt',
      [
        '127.0.0.1:2201 name=c1',
        '127.0.0.1:2202 name=c2',
        '10.0.0.9 name=room-a jump=bastion-a.example.org',
        '10.0.0.9 name=room-b jump=bastion-b.example.org',
      ].join('\n'),
    )
    expect(loadInventory('hosts.txt', w.options()).hosts.map((h) => h.name)).toEqual(['c1', 'c2', 'room-a', 'room-b'])
  })

  it('refuses a second cache host at its own line, naming the first', () => {
    const w = workspace()
    w.write(
      'hosts.txt',
      [
        '10.0.0.5 name=cache role=cache', // 1
        '10.0.0.6', // 2
        'i-0123456789abcdef0 role=cache', // 3: a second one
        '10.0.0.7 role=cache', // 4: and a third
      ].join('\n'),
    )
    const error = errorOf(() => loadInventory('hosts.txt', w.options()))
    expect(error.message.split('\n')).toEqual([
      'hosts.txt:3: field "role": a second cache host (role=cache); the room has one, at hosts.txt:1.',
      'hosts.txt:4: field "role": a second cache host (role=cache); the room has one, at hosts.txt:1.',
    ])
    expect((error as InventoryError).problems.map((p) => p.line)).toEqual([3, 4])
  })

  it('does not report a duplicate caused by a field that is already wrong', () => {
    const w = workspace()
    // Line 2's port is bad; falling back to 22 must not make it a "duplicate" of line 1.
    w.write('hosts.txt', '10.0.0.5\n10.0.0.5 port=99999 name=other\n')
    expect(errorOf(() => loadInventory('hosts.txt', w.options())).message).toBe(
      'hosts.txt:2: field "port": "99999" is not a port (1-65535).',
    )
  })
})
