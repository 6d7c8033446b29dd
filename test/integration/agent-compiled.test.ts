/**
 * The compiled playbook fleet ships beside a bundle's playbook (`PLAYBOOK.compiled.json`, the
 * agent's own dry run's `compiled`): the host's agent loads it instead of parsing the YAML
 * when, and only when, its hash is the playbook's and its templates' now; and the vars file
 * fleet sends as JSON is read as such (YAML vars files still work, with their lines).
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {agent, tempDir} from '../helpers/agent-cli.js'

const PLAYBOOK = `name: compiled
vars:
  word: yaml
  token: {secret: true}
steps:
  - id: say
    run: echo {{ word }} > "$HOME/said.txt"
  - id: conf
    template: {src: t.conf, dest: "{{ facts.home }}/t.conf"}
`

describe('the compiled playbook beside the playbook', () => {
  it('is used when its hash is the playbook\'s and its templates\', and ignored once either changed', async () => {
    const home = tempDir()
    const pb = join(home, 'pb.yaml')
    writeFileSync(pb, PLAYBOOK)
    writeFileSync(join(home, 't.conf'), 'v1 {{ word }}\n')
    const vars = join(home, 'vars.json')
    writeFileSync(vars, `${JSON.stringify({token: 'tok-1'})}\n`)
    const dry = await agent(['run', '--dry-run', '--json', '-p', pb, '--vars', vars, '--state-dir', join(home, 's0')], {home})
    expect(dry.code, dry.stderr).toBe(0)
    const compiled = JSON.parse(dry.stdout).compiled
    expect(compiled).toMatchObject({format: 1, name: 'compiled', varSpecs: {required: ['token'], secrets: ['token']}})
    expect(JSON.stringify(compiled)).not.toContain('tok-1') // no vars file value in what every host gets
    // A compiled form whose step says something else than the YAML: which one runs shows which was loaded.
    compiled.steps[0].run = compiled.steps[0].run.replace('{{ word }}', 'from-compiled')
    writeFileSync(`${pb}.compiled.json`, JSON.stringify(compiled))

    const run = async (n: number) => {
      const r = await agent(['run', '-p', pb, '--vars', vars, '--state-dir', join(home, `s${n}`)], {home})
      expect(r.code, r.stdout + r.stderr).toBe(0)
      return readFileSync(join(home, 'said.txt'), 'utf8').trim()
    }
    expect(await run(1)).toBe('from-compiled')
    // The dry run (fleet's, on the instructor's side) compiles from the YAML, whatever lies beside it.
    const again = await agent(['run', '--dry-run', '--json', '-p', pb, '--vars', vars, '--state-dir', join(home, 's0')], {home})
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).compiled.steps[0].run).toContain('{{ word }}')
    expect(readFileSync(join(home, 't.conf'), 'utf8')).toBe('v1 yaml\n')
    // A template changed since: the hash is not the compiled one's, so the YAML is read.
    writeFileSync(join(home, 't.conf'), 'v2 {{ word }}\n')
    expect(await run(2)).toBe('yaml')
    writeFileSync(join(home, 't.conf'), 'v1 {{ word }}\n')
    expect(await run(3)).toBe('from-compiled')
    // The playbook changed: the YAML again.
    writeFileSync(pb, PLAYBOOK.replace('word: yaml', 'word: yaml2'))
    expect(await run(4)).toBe('yaml2')
  })

  it('a JSON vars file is read as JSON; a required var it lacks and a var the playbook lacks are refused', async () => {
    const home = tempDir()
    const pb = join(home, 'pb.yaml')
    writeFileSync(pb, PLAYBOOK)
    writeFileSync(join(home, 't.conf'), 'x\n')
    const vars = join(home, 'vars.json')
    writeFileSync(vars, '{"word": "json"}\n')
    const missing = await agent(['run', '-p', pb, '--vars', vars, '--state-dir', join(home, 's')], {home})
    expect(missing.code).toBe(2)
    expect(missing.stderr).toBe(`Error: ${pb}:4: field "vars.token": has no value; give it in the vars file (--vars FILE).\n`)
    writeFileSync(vars, '{"token": "t", "nope": 1}\n')
    const unknown = await agent(['run', '-p', pb, '--vars', vars, '--state-dir', join(home, 's')], {home})
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(new RegExp(`^Error: ${vars}:1: field "nope": the playbook ${pb} has no var of that name \\(its vars: word, token\\)\\.\\n$`))
    writeFileSync(vars, '{"token": "t", "word": "json"}\n')
    const ok = await agent(['run', '-p', pb, '--vars', vars, '--state-dir', join(home, 's')], {home})
    expect(ok.code, ok.stderr).toBe(0)
    expect(readFileSync(join(home, 'said.txt'), 'utf8').trim()).toBe('json')
  })
})
