import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {agent, tempDir} from '../helpers/agent-cli.js'

const GOOD_STEP = '  - id: ok\n    run: echo ok\n'

/** [name, playbook text, vars text or undefined, expected line, expected field or message part] */
const CASES: Array<[string, string, string | undefined, number, RegExp]> = [
  ['YAML syntax', 'name: x\nsteps:\n  - id: a\n    run: [unclosed\n', undefined, 4, /not valid YAML/],
  ['a wrong type', `name: x\nsteps:\n${GOOD_STEP}  - id: b\n    run: echo b\n    timeout: soon\n`, undefined, 7, /field "steps\[b\]\.timeout": expected number, received string/],
  ['an unknown field', `name: x\nsteps:\n${GOOD_STEP}  - id: c\n    comand: echo c\n`, undefined, 6, /field "steps\[c\]\.comand": unknown field/],
  ['a step with no action', `name: x\nsteps:\n${GOOD_STEP}  - id: d\n    title: nothing\n`, undefined, 5, /field "steps\[d\]": needs one of "run", "template", "wait_for" or "reboot"/],
  ['a duplicate step id', `name: x\nsteps:\n${GOOD_STEP}  - id: ok\n    run: echo again\n`, undefined, 5, /field "id": step id "ok" is already used on line 3/],
  ['an undefined var', `name: x\nvars:\n  dir: /tmp\nsteps:\n  - id: e\n    run: ls {{ dri }}\n`, undefined, 5, /field "steps\[e\]\.run": undefined variable: dri/],
  ['a quoted interpolation', `name: x\nvars:\n  dir: /tmp\nsteps:\n  - id: f\n    run: ls "{{ dir }}"\n`, undefined, 6, /field "steps\[f\]\.run": .*quoted twice/],
  ['a bad id', `name: x\nsteps:\n  - id: Bad Id\n    run: echo\n`, undefined, 3, /field "steps\[Bad Id\]\.id": must be lower-case/],
  ['an unknown var in the vars file', `name: x\nvars:\n  dir: /tmp\nsteps:\n${GOOD_STEP}`, 'dir: /var\ndri: /oops\n', 2, /vars\.yaml:2: field "dri": the playbook .* has no var of that name/],
  ['a vars file that is not a map', `name: x\nvars:\n  dir: /tmp\nsteps:\n${GOOD_STEP}`, '- a\n- b\n', 1, /vars\.yaml:1: field "\(top level\)"/],
  ['a secret with no value', `name: x\nvars:\n  token: {secret: true}\nsteps:\n${GOOD_STEP}`, undefined, 3, /field "vars\.token": has no value; give it in the vars file/],
  // A secret that is not a string or a number could not be redacted: refused wherever it comes from.
  ['a secret copied into the vars file as its playbook map', `name: x\nvars:\n  pw: {secret: true}\nsteps:\n${GOOD_STEP}`, 'pw: {secret: true, value: Zq9CopyPasted}\n', 1, /vars\.yaml:1: field "pw": a secret is a string or a number, not a map \(a vars file gives the value itself: "pw: VALUE"\)/],
  ['a secret given as a list', `name: x\nvars:\n  other: 0\n  pw: {secret: true}\nsteps:\n${GOOD_STEP}`, 'other: 1\npw: [Zq9SecretArr]\n', 2, /vars\.yaml:2: field "pw": a secret is a string or a number, not a list/],
  ['a secret given as true', `name: x\nvars:\n  pw: {secret: true}\nsteps:\n${GOOD_STEP}`, 'pw: true\n', 1, /vars\.yaml:1: field "pw": a secret is a string or a number, not true \(boolean\)/],
  ['a secret whose default is a map', `name: x\nvars:\n  dir: /tmp\n  pw: {secret: true, value: {user: admin}}\nsteps:\n${GOOD_STEP}`, undefined, 4, /field "vars\.pw\.value": a secret is a string or a number, not a map/],
  // A blank value in the vars file is no value (a half-filled template).
  ['a blank value for a var with no default', `name: x\nvars:\n  host: {description: the lab host}\nsteps:\n${GOOD_STEP}`, '# the lab\nhost:\n', 2, /vars\.yaml:2: field "host": is blank; give it a value/],
  // Liquid reads an unfinished condition as false: refused, not a step skipped without a word.
  ['a when that ends in an operator', `name: x\nsteps:\n${GOOD_STEP}  - id: w\n    when: facts.os.family ==\n    run: echo w\n`, undefined, 6, /field "steps\[w\]\.when": template error: the condition ends without the value it compares with/],
  ['a when that ends in "and"', `name: x\nsteps:\n${GOOD_STEP}  - id: w\n    when: facts.os.family == "debian" and\n    run: echo w\n`, undefined, 6, /field "steps\[w\]\.when": template error: the condition ends without/],
  ['a when of two values with nothing between', `name: x\nvars:\n  a: true\n  b: false\nsteps:\n  - id: w\n    when: a b\n    run: echo w\n`, undefined, 7, /field "steps\[w\]\.when": template error: "b" needs an operator/],
  ['an unknown filter (a typo would render the value unfiltered on every host)', `name: x\nvars:\n  v: [1, 2]\nsteps:\n  - id: j\n    run: echo {{ v | jsno }}\n`, undefined, 6, /field "steps\[j\]\.run": template error: undefined filter: jsno/],
  ['an empty string for a secret the playbook leaves to the vars file', `name: x\nvars:\n  bmc_password: {secret: true}\nsteps:\n${GOOD_STEP}`, 'bmc_password: ""\n', 1, /vars\.yaml:1: field "bmc_password": is blank; give it a value/],
  ['an unquoted {{ }} value (a YAML map, not a template)', `name: x\nvars:\n  dir: /tmp\n  v: {{ dir }}\nsteps:\n${GOOD_STEP}`, undefined, 4, /not valid YAML here: \{\{ \}\} at the start of a value reads as a YAML map; quote the value/],
  ['a missing template', `name: x\nsteps:\n  - id: t\n    template: {src: nope.conf, dest: /tmp/x}\n`, undefined, 4, /field "steps\[t\]\.template\.src": nope\.conf does not exist beside the playbook/],
  ['an absolute template', `name: x\nsteps:\n  - id: t\n    template: {src: /etc/hostname, dest: /tmp/x}\n`, undefined, 4, /field "steps\[t\]\.template\.src": \/etc\/hostname is an absolute path/],
  ['a files: entry that does not exist', `name: x\nfiles: [scripts]\nsteps:\n${GOOD_STEP}`, undefined, 2, /field "files\[0\]": scripts does not exist beside the playbook/],
  ['a files: entry that climbs out', `name: x\nfiles:\n  - ../../etc\nsteps:\n${GOOD_STEP}`, undefined, 3, /field "files\[0\]": \.\.\/\.\.\/etc climbs out of the playbook's folder/],
  ['a helper script not in files:', `name: x\nsteps:\n${GOOD_STEP}  - id: h\n    run: bash {{ playbook_dir }}/setup.sh --now\n`, undefined, 6, /field "steps\[h\]\.run": \{\{ playbook_dir \}\}\/setup\.sh is not in the bundle.*add setup\.sh to "files:"/],
]

function snapshot(dir: string): string {
  if (!existsSync(dir)) return '(none)'
  return readdirSync(dir, {recursive: true})
    .map((f) => `${f}:${statSync(join(dir, String(f))).mtimeMs}`)
    .sort()
    .join('\n')
}

describe('bad input is refused before anything runs', () => {
  it.each(CASES)('%s: one sentence with file, line and field; exit 2; state dir untouched', async (_name, playbook, vars, line, pattern) => {
    const home = tempDir()
    const pb = join(home, 'pb.yaml')
    writeFileSync(pb, playbook)
    const args = ['run', '-p', pb, '--state-dir', join(home, 'state')]
    if (vars !== undefined) {
      writeFileSync(join(home, 'vars.yaml'), vars)
      args.push('--vars', join(home, 'vars.yaml'))
    }
    for (const cmd of ['run', 'start']) {
      args[0] = cmd
      const r = await agent(args, {home})
      expect(r.code, r.stderr).toBe(2)
      expect(r.stdout).toBe('')
      const lines = r.stderr.split('\n').filter(Boolean)
      expect(lines, r.stderr).toHaveLength(1)
      expect(lines[0]).not.toMatch(/\n\s+at /)
      const file = pattern.source.startsWith('vars') ? 'vars.yaml' : 'pb.yaml'
      expect(lines[0]).toMatch(new RegExp(`^Error: \\S*${file.replace('.', '\\.')}:${line}: `))
      expect(lines[0]).toMatch(pattern)
      expect(existsSync(join(home, 'state'))).toBe(false)
    }
  })

  it('leaves an existing state dir exactly as it was', async () => {
    const home = tempDir()
    const state = join(home, 'state')
    expect((await agent(['run', '-p', resolve('playbooks/demo.yaml'), '--state-dir', state, '--only', 'setup'], {home})).code).toBe(0)
    const before = snapshot(state)
    const pb = join(home, 'bad.yaml')
    writeFileSync(pb, 'name: demo\nsteps:\n  - id: x\n    run: 42\n')
    const r = await agent(['start', '-p', pb, '--state-dir', state], {home})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/bad\.yaml:4: field "steps\[x\]\.run": expected string, received number/)
    expect(snapshot(state)).toBe(before)
  })

  it('a state folder with a file in the way is one sentence, exit 2, for run and start alike', async () => {
    const home = tempDir()
    const pb = join(home, 'pb.yaml')
    writeFileSync(pb, `name: x\nsteps:\n${GOOD_STEP}`)
    const state = join(home, 'state')
    writeFileSync(state, 'not a folder\n')
    for (const cmd of ['run', 'start']) {
      const r = await agent([cmd, '-p', pb, '--state-dir', state], {home})
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toBe(`Error: The agent's state folder ${state} cannot be used: a file is in the way; give --state-dir a folder this user can write.\n`)
    }
  })

  it('an empty --only or --state-dir (an unset variable in a script) is refused, not read as every step or this folder', async () => {
    const home = tempDir()
    const pb = join(home, 'pb.yaml')
    writeFileSync(pb, `name: x\nsteps:\n${GOOD_STEP}`)
    for (const cmd of ['run', 'start']) {
      const only = await agent([cmd, '-p', pb, '--state-dir', join(home, 'state'), '--only', ''], {home, cwd: home})
      expect([only.code, only.stderr]).toEqual([2, 'Error: --only names no step; give step or phase ids, comma-separated, or leave the flag out for every step.\n'])
      const dir = await agent([cmd, '-p', pb, '--state-dir', ''], {home, cwd: home})
      expect(dir.code).toBe(2)
      expect(dir.stderr).toMatch(/^Error: --state-dir is empty; give a folder, or leave the flag out for the default \(.+\)\.\n$/)
    }
    expect(readdirSync(home)).toEqual(['pb.yaml'])
  })

  it('agent redact of a folder that is not there, or of a file, is one sentence and rewrites nothing', async () => {
    const home = tempDir()
    const pb = join(home, 'pb.yaml')
    writeFileSync(pb, `name: x\nvars:\n  pw: {secret: true, value: Zq9s3cret}\nsteps:\n${GOOD_STEP}`)
    const logs = join(home, 'logs')
    mkdirSync(logs)
    writeFileSync(join(logs, 'a.log'), 'token Zq9s3cret\n')
    const missing = await agent(['redact', logs, join(home, 'nope'), '-p', pb], {home})
    expect([missing.code, missing.stderr]).toEqual([2, `Error: ${join(home, 'nope')}: no such folder; give agent redact the folders to redact in place.\n`])
    const file = await agent(['redact', join(logs, 'a.log'), '-p', pb], {home})
    expect([file.code, file.stderr]).toEqual([2, `Error: ${join(logs, 'a.log')} is not a folder; give agent redact the folders to redact in place.\n`])
    expect(readFileSync(join(logs, 'a.log'), 'utf8')).toBe('token Zq9s3cret\n')
  })

  it('a playbook that repeats an anchor more than 100 times (env: *proxy on every step) loads', async () => {
    const home = tempDir()
    const pb = join(home, 'pb.yaml')
    const steps = Array.from({length: 150}, (_, i) => `  - id: s${i}\n    env: *proxy\n    run: "true"\n`).join('')
    writeFileSync(pb, `name: x\nsteps:\n  - id: first\n    env: &proxy {HTTP_PROXY: "http://cache:3128"}\n    run: "true"\n${steps}`)
    const r = await agent(['run', '--dry-run', '-p', pb, '--state-dir', join(home, 'state')], {home})
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  })

  it('a missing playbook file is one sentence naming it', async () => {
    const home = tempDir()
    mkdirSync(join(home, 'state'))
    const r = await agent(['run', '-p', join(home, 'missing.yaml'), '--state-dir', join(home, 'state')], {home})
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(`Error: ${join(home, 'missing.yaml')}: cannot read the playbook (no such file).\n`)
  })
})
