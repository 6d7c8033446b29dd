import {afterEach, describe, expect, it} from 'vitest'
import {parseFast} from '../../src/cli/fast-flags.js'
import {COMMANDS} from '../../src/cli/fleet-commands.js'
import {STATUS_FLAGS} from '../../src/cli/fleet-fast.js'

type OclifFlag = {type: string; char?: string; required?: boolean; env?: string; default?: unknown}

// `fleet status` has a fast path without oclif; its flag table must stay the
// oclif command's (the one --help shows), defaults and environment included.
describe('fleet status fast path', () => {
  afterEach(() => {
    delete process.env.FLEET_DB
  })

  it('has the same flags, kinds, environment variables and defaults as the oclif command', () => {
    const oclif = COMMANDS.status.flags as Record<string, OclifFlag>
    expect(Object.keys(STATUS_FLAGS).sort()).toEqual(Object.keys(oclif).sort())
    for (const [name, f] of Object.entries(STATUS_FLAGS)) {
      const o = oclif[name]
      expect(f.kind === 'boolean', name).toBe(o.type === 'boolean')
      expect(f.char, name).toBe(o.char)
      expect(!!f.required, name).toBe(!!o.required)
      expect(f.env, name).toBe(o.env)
      if (o.type !== 'boolean') expect(f.default, name).toBe(o.default)
    }
  })

  it('fills defaults and the environment, and leaves anything unusual to oclif', () => {
    expect(parseFast([], STATUS_FLAGS)).toEqual({db: './fleet.db', json: false, watch: false, lines: 20})
    process.env.FLEET_DB = '/tmp/room.db'
    expect(parseFast(['--json', '--lines', '5'], STATUS_FLAGS)).toEqual({db: '/tmp/room.db', json: true, watch: false, lines: 5})
    expect(parseFast(['--db=/x.db'], STATUS_FLAGS)?.db).toBe('/x.db')
    for (const odd of [['--help'], ['--lines', 'many'], ['--json', '--json'], ['--host'], ['extra']]) expect(parseFast(odd, STATUS_FLAGS), odd.join(' ')).toBeUndefined()
  })
})
