/**
 * Bad input to the instructor's CLI changes nothing: a flag refused after fleet.db was made, a
 * --db that is not a database (chmod'ed to 0600 and answered "file is not a database" without
 * its name, before), each found by trying it. The real fleet CLI; no host is contacted.
 */
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {tempDir} from '../helpers/agent-cli.js'
import {fleet} from '../helpers/fleet-cli.js'

describe('fleet: flag and --db errors change nothing', () => {
  it('--max-errors 150% is refused before fleet.db exists', async () => {
    const dir = tempDir()
    const hosts = join(dir, 'hosts.txt')
    writeFileSync(hosts, 'ubuntu@192.0.2.10 name=a\n')
    const db = join(dir, 'fleet.db')
    const r = await fleet(['prepare', '-H', hosts, '--db', db, '-p', 'demo', '--max-errors', '150%'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('Error: --max-errors: 150% is more than 100%.\n')
    expect(existsSync(db)).toBe(false)
    const bad = await fleet(['prepare', '-H', hosts, '--db', db, '-p', 'demo', '--max-errors', 'many'])
    expect(bad.stderr).toBe('Error: --max-errors: "many" is not a number of hosts or a percentage (e.g. 3 or 10%).\n')
    expect(existsSync(db)).toBe(false)
  })

  it('--connect-timeout 0 (which would wait for a silent host for ever) and status --lines 0 are refused', async () => {
    const dir = tempDir()
    const hosts = join(dir, 'hosts.txt')
    writeFileSync(hosts, 'ubuntu@192.0.2.10 name=a\n')
    const db = join(dir, 'fleet.db')
    for (const [args, flag] of [
      [['prepare', '-H', hosts, '--db', db, '-p', 'demo', '--connect-timeout', '0'], '--connect-timeout'],
      [['prepare', '-H', hosts, '--db', db, '-p', 'demo', '--connect-timeout=-5'], '--connect-timeout'],
      [['status', '--db', db, '--lines', '0'], '--lines'],
    ] as const) {
      const r = await fleet([...args])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toContain(`Parsing ${flag}`)
      expect(r.stderr).toContain('Expected an integer greater than or equal to 1')
    }
    expect(existsSync(db)).toBe(false)
  })

  it('cache warm --dry-run on a room without a cache host is refused, as the real warm is', async () => {
    const dir = tempDir()
    const hosts = join(dir, 'hosts.txt')
    writeFileSync(hosts, 'ubuntu@192.0.2.10 name=a\n')
    const r = await fleet(['cache', 'warm', '--dry-run', '-H', hosts, '-p', 'demo'])
    expect([r.code, r.stderr]).toEqual([2, `Error: ${hosts} names no cache host: mark one with role=cache (fleet_role=cache in an Ansible inventory).\n`])
  })

  it('the room cache: --cache-vars without a cache host, a bad cache var, and cache status without one: one sentence each, nothing made', async () => {
    const dir = tempDir()
    const hosts = join(dir, 'hosts.txt')
    writeFileSync(hosts, 'ubuntu@192.0.2.10 name=a\n')
    const db = join(dir, 'fleet.db')
    const cacheVars = join(dir, 'cache.yaml')
    writeFileSync(cacheVars, 'apt_port: 3142\n')
    const noHost = await fleet(['prepare', '-H', hosts, '--db', db, '-p', 'demo', '--cache-vars', cacheVars])
    expect(noHost.code).toBe(2)
    expect(noHost.stderr).toBe(`Error: --cache-vars: ${hosts} names no cache host (role=cache), so there is no room cache to give them to.\n`)
    writeFileSync(hosts, 'ubuntu@192.0.2.9 name=cache role=cache\nubuntu@192.0.2.10 name=a\n')
    writeFileSync(cacheVars, 'apt_port: 3142\nhttp_prot: 8080\n')
    const typo = await fleet(['prepare', '-H', hosts, '--db', db, '-p', 'demo', '--cache-vars', cacheVars])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toMatch(new RegExp(`^Error: ${cacheVars.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: field "http_prot": neither room cache playbook has a var of that name`))
    writeFileSync(cacheVars, 'http_port: eighty\n')
    const port = await fleet(['prepare', '-H', hosts, '--db', db, '-p', 'demo', '--cache-vars', cacheVars])
    expect(port.code).toBe(2)
    expect(port.stderr).toBe('Error: --cache-vars: field "http_port": "eighty" is not a port (1-65535).\n')
    expect(existsSync(db)).toBe(false)
    writeFileSync(hosts, 'ubuntu@192.0.2.10 name=a\n')
    // Neither cache command does anything to a room without a cache host (warm would otherwise prepare it).
    for (const sub of ['status', 'warm']) {
      const r = await fleet(['cache', sub, '-H', hosts, '--db', db, '-p', 'demo'].slice(0, sub === 'status' ? 6 : 8))
      expect(r.code, sub).toBe(2)
      expect(r.stderr, sub).toBe(`Error: ${hosts} names no cache host: mark one with role=cache (fleet_role=cache in an Ansible inventory).\n`)
    }
    expect(existsSync(db)).toBe(false)
    // A cache host nobody answers at: one sentence, not a stack trace.
    writeFileSync(hosts, 'ubuntu@127.0.0.1:1 name=cache role=cache\n')
    const down = await fleet(['cache', 'status', '-H', hosts, '--db', db, '--connect-timeout', '5'])
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/^Error: cache: the cache host cannot be reached: [^\n]+\n$/)
  })

  it('a --db that is not a database is named, and left as it was', async () => {
    const dir = tempDir()
    const notes = join(dir, 'notes.txt')
    writeFileSync(notes, 'room 12: bring adapters\n', {mode: 0o644})
    for (const args of [['status'], ['status', '--json'], ['status', '--host', 'a']]) {
      const r = await fleet([...args, '--db', notes])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toBe(`Error: ${notes} is not a fleet database (not an SQLite file); give --db the fleet.db that "fleet prepare" wrote.\n`)
    }
    expect(readFileSync(notes, 'utf8')).toBe('room 12: bring adapters\n')
    expect(statSync(notes).mode & 0o777).toBe(0o644)
    // SQLite's header, then garbage: SQLite's own words, with the file's name.
    const broken = join(dir, 'broken.db')
    writeFileSync(broken, Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), Buffer.alloc(4080, 0x5a)]))
    const r = await fleet(['status', '--db', broken])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(new RegExp(`^Error: ${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be read as a fleet database: .+\\.\\n$`))
  })
})
