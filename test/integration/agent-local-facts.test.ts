/**
 * Local facts (NAME.json in the agent's facts directory, read as facts.local.NAME) and a
 * step's `refresh_facts`, on the real agent: a step that writes a fact feeds the steps after
 * it only when it asks for the refresh; `| default` covers a fact not written yet, while a
 * `when` that names one stays an error; a resumed run reads the fact from the start.
 */
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {agent, ndjson, tempDir} from '../helpers/agent-cli.js'

function playbook(dir: string, refresh: boolean, extra = ''): string {
  const file = join(dir, 'facts.yaml')
  writeFileSync(
    file,
    `name: facts
steps:
  - id: probe
    run: |
      mkdir -p {{ facts.local_facts_dir }}
      printf '{"choice": "kvm", "n": 3}' > {{ facts.local_facts_dir }}/probe.json
    refresh_facts: ${refresh}
  - id: use
    run: |
      echo "chose" {{ facts.local.probe.choice | default: 'nothing yet' }}
  - id: template
    template: {src: t.txt, dest: ${join(dir, 'out.txt')}}
${extra}`,
  )
  writeFileSync(join(dir, 't.txt'), '{% if facts.local.probe %}n={{ facts.local.probe.n }}{% else %}no probe{% endif %}\n')
  return file
}

const said = (stdout: string, step: string) =>
  ndjson(stdout)
    .flatMap((r) => (r.type === 'output' && r.step === step ? [r.data] : []))
    .join('')

describe('local facts and refresh_facts', () => {
  it('feeds what a step wrote to the steps after it when it asks to refresh', async () => {
    const home = tempDir()
    const facts = join(home, 'facts.d')
    const r = await agent(['run', '--playbook', playbook(home, true), '--state-dir', join(home, 'state'), '--json'], {home, env: {FLEET_AGENT_FACTS_DIR: facts}})
    expect(r.code, r.stderr).toBe(0)
    expect(said(r.stdout, 'use')).toBe('chose kvm\n')
    expect(readFileSync(join(home, 'out.txt'), 'utf8')).toBe('n=3\n')
    // The run's own start saw no fact yet; the journal says what it started from.
    const start = ndjson(r.stdout).find((x) => x.type === 'run-start')
    expect(start?.type === 'run-start' && start.facts.local).toEqual({})
    expect(start?.type === 'run-start' && start.facts.local_facts_dir).toBe(facts)
  })

  it('renders the steps with the facts of the start when no step asks to refresh', async () => {
    const home = tempDir()
    const r = await agent(['run', '--playbook', playbook(home, false), '--state-dir', join(home, 'state'), '--json'], {home, env: {FLEET_AGENT_FACTS_DIR: join(home, 'facts.d')}})
    expect(r.code, r.stderr).toBe(0)
    expect(said(r.stdout, 'use')).toBe('chose nothing yet\n')
    // A new run reads the file at its start.
    const again = await agent(['run', '--playbook', playbook(home, false), '--only', 'use', '--state-dir', join(home, 'state2'), '--json'], {home, env: {FLEET_AGENT_FACTS_DIR: join(home, 'facts.d')}})
    expect(said(again.stdout, 'use')).toBe('chose kvm\n')
  })

  it('keeps a `when` naming an unwritten fact an error, and says which file is not JSON', async () => {
    const home = tempDir()
    const bad = await agent(['run', '--playbook', playbook(home, true, '  - id: cond\n    when: facts.local.probe.choice == "kvm"\n    run: "true"\n'), '--dry-run', '--state-dir', join(home, 'state')], {home, env: {FLEET_AGENT_FACTS_DIR: join(home, 'facts.d')}})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/field "steps\[cond\]\.when": undefined variable: facts\.local\.probe/)
    const facts = join(home, 'broken.d')
    mkdirSync(facts)
    writeFileSync(join(facts, 'probe.json'), '{not json')
    const r = await agent(['run', '--playbook', playbook(home, false), '--only', 'use', '--state-dir', join(home, 'state3'), '--json'], {home, env: {FLEET_AGENT_FACTS_DIR: facts}})
    expect(r.code, r.stderr).toBe(0)
    const start = ndjson(r.stdout).find((x) => x.type === 'run-start')
    expect(start?.type === 'run-start' && start.facts.local).toEqual({probe: {error: `${facts}/probe.json is not valid JSON`}})
  })
})
