import {describe, expect, it} from 'vitest'
import {COMMANDS} from '../../src/cli/agent-commands.js'
import {SPECS} from '../../src/cli/agent-fast.js'
import {parseFast} from '../../src/cli/fast-flags.js'

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

  it('takes plain flags only (util.parseArgs, strict) and leaves every other form to oclif', () => {
    const run = SPECS.run
    expect(parseFast(['-p', 'pb.yaml', '--only=a,b', '--json'], run)).toMatchObject({playbook: 'pb.yaml', only: 'a,b', json: true, 'dry-run': false})
    expect(parseFast(['--vars=-x.yaml', '--playbook', 'pb.yaml'], run)?.vars).toBe('-x.yaml')
    expect(parseFast(['--from', '7'], SPECS.follow)?.from).toBe(7)
    const odd = [
      ['-ppb.yaml'], // attached short value
      ['-p=pb.yaml'],
      ['-p', 'pb.yaml', '--json=yes'], // a value for a boolean
      ['-p', 'pb.yaml', '--json='],
      ['-p', '-'], // a value that starts with '-'
      ['-p', '--json'],
      ['-p', 'pb.yaml', '--vars'], // a missing value
      ['--vars', 'v.yaml'], // a missing required flag
      ['-p', 'a.yaml', '--playbook', 'b.yaml'], // repeated
      ['-p', 'pb.yaml', '--'],
      ['-p', 'pb.yaml', 'extra'],
      ['-p', 'pb.yaml', '-h'],
      ['-p', 'pb.yaml', '--constructor'],
    ]
    for (const argv of odd) expect(parseFast(argv, run), argv.join(' ')).toBeUndefined()
    expect(parseFast(['--from', '-1'], SPECS.follow)).toBeUndefined()
    expect(parseFast(['--from=1.5'], SPECS.follow)).toBeUndefined()
  })
})
