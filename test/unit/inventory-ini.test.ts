import {copyFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'
import {loadInventory} from '../../src/inventory/index.js'
import {problemsOf, workspaces} from '../helpers/inventory-workspace.js'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/inventory')
const workspace = workspaces('fleet-inventory-ini-')

describe('Ansible INI inventories', () => {
  it('reads groups, host vars, group vars by depth, children, and lists a host in several groups once', () => {
    const w = workspace()
    w.write('.ssh/workshop', 'KEY')
    const file = join(w.dir, 'workshop.ini')
    copyFileSync(join(fixtures, 'workshop.ini'), file)
    const inv = loadInventory(file, {env: w.env, sshConfigPath: null})
    expect(inv.format).toBe('ansible-ini')
    const key = join(w.dir, '.ssh/workshop')
    const jump = {address: 'bastion.example.org', port: 2022, user: 'ops'}
    expect(inv.hosts).toEqual([
      // [all:vars] only.
      {name: 'ungrouped-host.example.org', address: 'ungrouped-host.example.org', port: 22, user: 'ubuntu', identityFiles: [], transport: 'ssh', source: {file, line: 2}},
      // room (parent) overrides all; late_joiners' port applies because alice is in it too.
      {name: 'alice', address: '10.0.1.11', port: 2200, user: 'student', identityFiles: [key], jump, transport: 'ssh', source: {file, line: 5}},
      // The host's own variables override its groups'.
      {name: 'bob', address: '10.0.1.12', port: 2222, user: 'bob', identityFiles: [key], jump, transport: 'ssh', source: {file, line: 6}},
      {name: '2001-db8--20', address: '2001:db8::20', port: 22, user: 'student', identityFiles: [key], jump, transport: 'ssh', source: {file, line: 7}},
      {name: 'carol', address: '10.0.1.13', port: 2200, user: 'student', identityFiles: [key], jump, transport: 'ssh', source: {file, line: 10}},
      // SSM: the [all:vars] user does not apply and is not an error.
      {name: 'dave', address: 'i-0123456789abcdef0', port: 22, user: 'ubuntu', identityFiles: [], transport: 'ssm', source: {file, line: 14}},
    ])
    expect(inv.warnings).toEqual([`${file}: variables course are not used by fleet and were ignored.`])
  })

  it('accepts host:port, the old ansible_ssh_* names and -J in ssh args', () => {
    const w = workspace()
    const file = w.write(
      'hosts.ini',
      ['[lab]', 'lab1.example.org:2201', 'lab2 ansible_ssh_host=10.0.0.2 ansible_ssh_user=ann ansible_ssh_port=2202 ansible_ssh_extra_args="-J jump.example.org"'].join('\n'),
    )
    const inv = loadInventory(file, {env: w.env, sshConfigPath: null})
    expect(inv.hosts.map((h) => [h.name, h.address, h.port, h.user, h.jump?.address])).toEqual([
      ['lab1.example.org', 'lab1.example.org', 2201, 'ubuntu', undefined],
      ['lab2', '10.0.0.2', 2202, 'ann', 'jump.example.org'],
    ])
  })

  it('reports unsupported constructs with their line numbers instead of ignoring them', () => {
    const w = workspace()
    const file = w.write(
      'hosts.ini',
      [
        '[web]', // 1
        'web[01:10].example.org', // 2
        'alice ansible_host=10.0.0.1 ansible_password=secret', // 3
        '[web:meta]', // 4
        'ignored-under-a-bad-header', // 5
        '[db]', // 6
        'db1 ansible_connection=local', // 7
        'db2 ansible_ssh_common_args="-o StrictHostKeyChecking=no"', // 8
        'ubuntu@db3', // 9
        '[db:children]', // 10
        'web', // 11
        '[web:children]', // 12
        'db', // 13
        '[db:vars]', // 14
        'ansible_port', // 15
        '[broken', // 16
        'db4 ansible_port=99999', // 17
      ].join('\n'),
    )
    expect(problemsOf(() => loadInventory(file, {env: w.env, sshConfigPath: null}))).toEqual([
      `${file}:2: "web[01:10].example.org" is a host range, which fleet does not expand; list the hosts one per line.`,
      `${file}:3: field "ansible_password": is not supported by fleet.`,
      `${file}:4: section type ":meta" in [web:meta] is not supported (only :vars and :children).`,
      `${file}:7: field "ansible_connection": "local" is not supported by fleet (ssh or aws_ssm).`,
      `${file}:8: field "ansible_ssh_common_args": "StrictHostKeyChecking=no" is not supported by fleet; only a jump host (-J HOST or -o ProxyJump=HOST) is.`,
      `${file}:9: "ubuntu@db3": an Ansible inventory gives the user with ansible_user=, not USER@.`,
      `${file}:13: the :children sections form a cycle: web is a child of db, which is a child of web.`,
      `${file}:15: "ansible_port" is not a variable (NAME=VALUE) for [db:vars].`,
      `${file}:16: "[broken" is not a section header ([group], [group:vars] or [group:children]).`,
    ])
  })

  it('places a bad group variable at its own line, once for the whole group', () => {
    const w = workspace()
    const file = w.write('hosts.ini', ['[lab]', 'a.example.org', 'b.example.org', '', '[lab:vars]', 'ansible_port=70000'].join('\n'))
    expect(problemsOf(() => loadInventory(file, {env: w.env, sshConfigPath: null}))).toEqual([
      `${file}:6: field "ansible_port": "70000" is not a port (1-65535).`,
    ])
  })

  it('reads fleet_role=cache from a host line or a group, like role=cache', () => {
    const w = workspace()
    const line = w.write('hosts.ini', ['[lab]', 'a.example.org', 'b.example.org fleet_role=cache'].join('\n'))
    const inv = loadInventory(line, {env: w.env, sshConfigPath: null})
    expect(inv.hosts.map((h) => [h.name, h.role])).toEqual([
      ['a.example.org', undefined],
      ['b.example.org', 'cache'],
    ])
    expect(inv.warnings).toEqual([])
    const group = w.write(
      'group.ini',
      ['[lab]', 'a.example.org', '[cache]', 'i-0123456789abcdef0', '[cache:vars]', 'fleet_role=cache'].join('\n'),
    )
    expect(loadInventory(group, {env: w.env, sshConfigPath: null}).hosts.map((h) => [h.name, h.transport, h.role])).toEqual([
      ['a.example.org', 'ssh', undefined],
      ['i-0123456789abcdef0', 'ssm', 'cache'],
    ])
  })

  it('refuses a bad fleet_role and a second cache host, with file, line and field', () => {
    const w = workspace()
    const file = w.write(
      'hosts.ini',
      [
        '[lab]', // 1
        'a.example.org fleet_role=cache', // 2
        'b.example.org fleet_role=mirror', // 3
        'c.example.org', // 4
        '[more]', // 5
        'd.example.org', // 6
        '[more:vars]', // 7
        'fleet_role=cache', // 8
      ].join('\n'),
    )
    expect(problemsOf(() => loadInventory(file, {env: w.env, sshConfigPath: null}))).toEqual([
      `${file}:3: field "fleet_role": "mirror" is not a role (the only one is cache).`,
      `${file}:6: field "fleet_role": a second cache host (fleet_role=cache); the room has one, at ${file}:2.`,
    ])
  })

  it('reports two hosts with the same ansible_host as duplicates', () => {
    const w = workspace()
    const file = w.write('hosts.ini', ['[a]', 'one ansible_host=10.0.0.1', '[b]', 'two ansible_host=10.0.0.1', 'one'].join('\n'))
    expect(problemsOf(() => loadInventory(file, {env: w.env, sshConfigPath: null}))).toEqual([
      `${file}:4: 10.0.0.1 port 22 is already listed on line 2.`,
    ])
  })
})
