import {describe, expect, it} from 'vitest'
import {COMMANDS} from '../../src/cli/agent-commands.js'
import {SPECS} from '../../src/agent/fast-cli.js'

// The agent's fast path parses the common commands without oclif; its flag
// table must stay the same as the oclif commands' (the ones --help shows).
describe('agent fast path', () => {
  it.each(Object.keys(SPECS))('%s: same flags, kinds, short names and required flags as the oclif command', (name) => {
    const cmd = (COMMANDS as Record<string, {flags: Record<string, {type: string; char?: string; required?: boolean; env?: string}>}>)[name]
    expect(cmd, name).toBeDefined()
    const oclif = Object.fromEntries(
      Object.entries(cmd.flags).map(([flag, f]) => [flag, {kind: f.type === 'boolean' ? 'boolean' : 'option', char: f.char, required: !!f.required, env: f.env}]),
    )
    const fast = Object.fromEntries(Object.entries(SPECS[name]).map(([flag, f]) => [flag, {kind: f.kind, char: f.char, required: !!f.required, env: f.env}]))
    expect(Object.keys(fast).sort()).toEqual(Object.keys(oclif).sort())
    for (const flag of Object.keys(fast)) {
      expect(fast[flag].char, `${name} --${flag}`).toBe(oclif[flag].char)
      expect(fast[flag].required, `${name} --${flag}`).toBe(oclif[flag].required)
      expect(fast[flag].env, `${name} --${flag}`).toBe(oclif[flag].env)
      expect(fast[flag].kind === 'boolean', `${name} --${flag}`).toBe(oclif[flag].kind === 'boolean')
    }
  })
})
