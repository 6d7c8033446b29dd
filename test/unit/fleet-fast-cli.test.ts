import {afterEach, describe, expect, it} from 'vitest'
import {parseFast} from '../../src/cli/fast-flags.js'
import {COMMANDS} from '../../src/cli/fleet-commands.js'
import {CLEANUP_FLAGS, PREPARE_FLAGS, STATUS_FLAGS} from '../../src/cli/fleet-fast.js'
import type {FlagSpec} from '../../src/cli/fast-flags.js'

type OclifFlag = {type: string; char?: string; required?: boolean; env?: string; default?: unknown; options?: string[]; min?: number}

/** A fast path's flag table against its oclif command's flags: names, kinds, short names, environment, defaults, options, minimums. */
async function expectSameFlags(table: Record<string, FlagSpec>, oclif: Record<string, OclifFlag>): Promise<void> {
  expect(Object.keys(table).sort()).toEqual(Object.keys(oclif).sort())
  for (const [flag, f] of Object.entries(table)) {
    const o = oclif[flag]
    expect(f.kind === 'boolean', flag).toBe(o.type === 'boolean')
    expect(f.char, flag).toBe(o.char)
    expect(!!f.required, flag).toBe(!!o.required)
    expect(f.env, flag).toBe(o.env)
    if (o.type !== 'boolean') expect(f.default, flag).toBe(o.default)
    expect(f.options, flag).toEqual(o.options)
    // oclif keeps an integer flag's minimum inside its parse function: it takes f.min and refuses one less.
    const parse = (o as unknown as {parse?: (input: string, ctx: unknown, opts: unknown) => Promise<unknown>}).parse
    if (f.min !== undefined) {
      await expect(parse!(String(f.min), {}, o), flag).resolves.toBe(f.min)
      await expect(parse!(String(f.min - 1), {}, o), flag).rejects.toThrow(/greater than or equal/)
    } else if (o.type === 'option' && parse && f.kind === 'integer') await expect(parse('0', {}, o), flag).resolves.toBe(0)
  }
}

// `fleet status` has a fast path without oclif; its flag table must stay the
// oclif command's (the one --help shows), defaults and environment included.
describe('fleet status fast path', () => {
  afterEach(() => {
    delete process.env.FLEET_DB
  })

  it('has the same flags, kinds, short names, environment, defaults, options and minimums as the oclif command', async () => {
    await expectSameFlags(STATUS_FLAGS, COMMANDS.status.flags as Record<string, OclifFlag>)
  })

  it('fills defaults and the environment, and leaves anything unusual to oclif', () => {
    expect(parseFast([], STATUS_FLAGS)).toEqual({db: './fleet.db', json: false, watch: false, lines: 20})
    process.env.FLEET_DB = '/tmp/room.db'
    expect(parseFast(['--json', '--lines', '5'], STATUS_FLAGS)).toEqual({db: '/tmp/room.db', json: true, watch: false, lines: 5})
    expect(parseFast(['--db=/x.db'], STATUS_FLAGS)?.db).toBe('/x.db')
    for (const odd of [['--help'], ['--lines', 'many'], ['--json', '--json'], ['--host'], ['extra']]) expect(parseFast(odd, STATUS_FLAGS), odd.join(' ')).toBeUndefined()
  })
})

// prepare and cleanup have one too (the room's main job): the same rule.
describe('fleet prepare and cleanup fast paths', () => {
  const cases: Array<[string, Record<string, FlagSpec>]> = [
    ['prepare', PREPARE_FLAGS],
    ['cleanup', CLEANUP_FLAGS],
  ]
  it.each(cases)('%s: the same flags, kinds, short names, environment, defaults, options and minimums as the oclif command', async (name, table) => {
    await expectSameFlags(table, (COMMANDS as unknown as Record<string, {flags: Record<string, OclifFlag>}>)[name].flags)
  })

  it('leaves a value out of its options or under its minimum to oclif, which names the problem', () => {
    expect(parseFast(['--hosts', 'h.txt'], PREPARE_FLAGS)).toMatchObject({hosts: 'h.txt', playbook: 'workshop', concurrency: 32, runtime: 'auto', 'dry-run': false})
    for (const odd of [['--runtime', 'bogus'], ['--transport', 'telnet'], ['--concurrency', '0'], ['-c', '0'], ['--help'], ['--hosts']]) expect(parseFast(odd, PREPARE_FLAGS), odd.join(' ')).toBeUndefined()
    expect(parseFast(['--to-step', 'infra', '--keep-cache'], CLEANUP_FLAGS)).toMatchObject({'to-step': 'infra', 'keep-cache': true})
  })
})
