/**
 * What goes into a bundle: the playbook, its templates and its `files:` list, nothing else.
 * The shipped playbooks' bundles, through the same path fleet takes (the agent's dry run,
 * then buildBundle), and the loader's refusals on playbooks written here.
 */
import {mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {parse} from 'yaml'
import {describe, expect, it} from 'vitest'
import {buildBundle} from '../../src/orchestrator/bundle.js'
import {validateLocally} from '../../src/orchestrator/validate.js'
import {loadPlaybook} from '../../src/playbook/load.js'
import {tempDir} from '../helpers/agent-cli.js'

const PLAYBOOKS = resolve('playbooks')

/** The bundle's files under playbooks/, as fleet would ship them. */
function shipped(playbook: string, vars?: string): string[] {
  const plan = validateLocally({mode: 'run', playbook, vars, steps: {}})
  const bundle = buildBundle(playbook, plan.files)
  const rels = bundle.files.map((f) => f.rel).filter((r) => r.startsWith('playbooks/')).map((r) => r.slice('playbooks/'.length))
  expect(rels).toEqual(plan.files)
  return rels
}

/** Every template.src a playbook's steps name. */
function templatesOf(file: string): string[] {
  const doc = parse(readFileSync(file, 'utf8')) as {phases?: Array<{steps: Array<{template?: {src: string}}>}>; steps?: Array<{template?: {src: string}}>}
  const steps = doc.phases ? doc.phases.flatMap((p) => p.steps) : (doc.steps ?? [])
  return steps.flatMap((s) => (s.template ? [s.template.src] : []))
}

describe('the agent\'s files in a bundle', () => {
  it('are the host agent\'s files only: not the compile cache its runs on Node.js 22+ leave beside them', () => {
    const cache = resolve('dist/agent-host/.compile-cache')
    mkdirSync(join(cache, 'v24.0.0-x64-0'), {recursive: true})
    writeFileSync(join(cache, 'v24.0.0-x64-0', 'abc'), 'code')
    try {
      const agentFiles = buildBundle(join(PLAYBOOKS, 'demo.yaml'), ['demo.yaml', 'templates/demo.conf']).files.map((f) => f.rel).filter((r) => !r.startsWith('playbooks/'))
      expect(agentFiles).toEqual(readdirSync(resolve('dist/agent-host')).filter((n) => !n.startsWith('.')).sort())
      expect(agentFiles).toContain('agent.mjs')
    } finally {
      rmSync(cache, {recursive: true, force: true})
    }
  })
})

describe('the shipped playbooks ship exactly their own files', () => {
  it('demo: demo.yaml and templates/demo.conf', () => {
    expect(shipped(join(PLAYBOOKS, 'demo.yaml'))).toEqual(['demo.yaml', 'templates/demo.conf'])
  })

  it('workshop: workshop.yaml, the templates it references and workshop/files/*; not the demo, not workshop-notes.md', () => {
    const vars = join(tempDir(), 'room.yaml')
    writeFileSync(vars, 'bmc_password: unit-pw\n')
    const files = shipped(join(PLAYBOOKS, 'workshop.yaml'), vars)
    const templates = templatesOf(join(PLAYBOOKS, 'workshop.yaml'))
    expect(templates.length).toBeGreaterThan(0)
    const helpers = readdirSync(join(PLAYBOOKS, 'workshop/files')).map((f) => `workshop/files/${f}`)
    expect(files).toEqual([...new Set(['workshop.yaml', ...templates, ...helpers])].sort())
    for (const other of ['demo.yaml', 'templates/demo.conf', 'workshop-notes.md']) expect(files).not.toContain(other)
    expect(files.every((f) => f === 'workshop.yaml' || f.startsWith('workshop/'))).toBe(true)
  })

  it('cache: cache.yaml, its two templates and cache/files/*; nothing of the workshop or the demo', () => {
    const vars = join(tempDir(), 'cache.yaml')
    writeFileSync(vars, 'cache_address: 127.0.0.1\n')
    const files = shipped(join(PLAYBOOKS, 'cache.yaml'), vars)
    const templates = templatesOf(join(PLAYBOOKS, 'cache.yaml'))
    expect(templates.sort()).toEqual(['cache/templates/acng.conf', 'cache/templates/nginx.conf'])
    const helpers = readdirSync(join(PLAYBOOKS, 'cache/files')).map((f) => `cache/files/${f}`)
    expect(files).toEqual([...new Set(['cache.yaml', ...templates, ...helpers])].sort())
    expect(files.every((f) => f === 'cache.yaml' || f.startsWith('cache/'))).toBe(true)
  })

  it('cache-client: cache-client.yaml and cache-client/files/*; nothing of the cache host\'s playbook', () => {
    const vars = join(tempDir(), 'client.yaml')
    writeFileSync(vars, 'cache_address: 127.0.0.1\n')
    const files = shipped(join(PLAYBOOKS, 'cache-client.yaml'), vars)
    const helpers = readdirSync(join(PLAYBOOKS, 'cache-client/files')).map((f) => `cache-client/files/${f}`)
    expect(helpers.length).toBeGreaterThan(0)
    expect(files).toEqual(['cache-client.yaml', ...helpers].sort())
  })
})

/** A playbook folder written here: FILES maps paths to contents. */
function folder(files: Record<string, string>): string {
  const d = tempDir('fleet-bundle-files-')
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(d, p)), {recursive: true})
    writeFileSync(join(d, p), text)
  }
  return d
}

const STEP = 'steps:\n  - id: s\n'

describe('the loader keeps the bundle to what the playbook names', () => {
  it('bundleFiles: the playbook, its templates, files: entries and listed folders, sorted and unique', () => {
    const d = folder({
      'pb.yaml': `name: pb\nfiles: [lib, bin/run.sh, lib/a.sh]\nsteps:\n  - id: t\n    template: {src: t/x.conf, dest: /tmp/x}\n  - id: r\n    run: bash {{ playbook_dir }}/bin/run.sh {{ playbook_dir }}/lib/b/c.sh\n`,
      't/x.conf': 'x\n',
      't/unused.conf': 'unused\n',
      'lib/a.sh': '',
      'lib/b/c.sh': '',
      'bin/run.sh': '',
      'bin/other.sh': '',
      'id_ed25519': 'not shipped',
      'other.yaml': 'name: other\n',
    })
    expect(loadPlaybook(join(d, 'pb.yaml')).bundleFiles).toEqual(['bin/run.sh', 'lib/a.sh', 'lib/b/c.sh', 'pb.yaml', 't/x.conf'])
  })

  it("buildBundle orders its files by code point, not by the instructor's locale: the bundle's hash is the same on every machine", () => {
    const d = folder({'pb.yaml': `name: pb\nfiles: [Zeta.sh, _u.sh, alpha.sh]\n${STEP}    run: "true"\n`, 'Zeta.sh': '', '_u.sh': '', 'alpha.sh': ''})
    const rels = buildBundle(join(d, 'pb.yaml'), ['Zeta.sh', '_u.sh', 'alpha.sh', 'pb.yaml']).files.map((f) => f.rel).filter((r) => r.startsWith('playbooks/'))
    // A collation ("alpha", "_u", "Zeta" in English) would depend on LANG and on ICU's version.
    expect(rels).toEqual(['playbooks/Zeta.sh', 'playbooks/_u.sh', 'playbooks/alpha.sh', 'playbooks/pb.yaml'])
  })

  it('a {{ playbook_dir }}/X not in the bundle is refused in shell fields, env and string vars, naming the field', () => {
    const d = folder({'tool.sh': '', 'listed.sh': ''})
    const cases: Array<[string, RegExp]> = [
      [`name: pb\nfiles: [listed.sh]\n${STEP}    run: bash {{ playbook_dir }}/listed.sh && bash {{playbook_dir}}/tool.sh\n`, /pb\.yaml:5: field "steps\[s\]\.run": \{\{ playbook_dir \}\}\/tool\.sh is not in the bundle.*add tool\.sh to "files:"\.$/],
      [`name: pb\n${STEP}    run: "true"\n    check: test -x {{ playbook_dir }}/tool.sh\n`, /pb\.yaml:5: field "steps\[s\]\.check"/],
      [`name: pb\n${STEP}    run: "true"\n    env:\n      TOOL: "{{ playbook_dir }}/tool.sh"\n`, /pb\.yaml:6: field "steps\[s\]\.env\.TOOL"/],
      [`name: pb\nvars:\n  tools: "{{ playbook_dir }}/tools"\n${STEP}    run: ls {{ tools }}\n`, /pb\.yaml:3: field "vars\.tools": \{\{ playbook_dir \}\}\/tools is not in the bundle/],
      [`name: pb\n${STEP}    wait_for: {command: "{{ playbook_dir }}/tool.sh"}\n`, /pb\.yaml:4: field "steps\[s\]\.wait_for\.command"/],
      [`name: pb\n${STEP}    run: bash {{ playbook_dir }}/scripts/{{ name }}.sh\n`, /field "steps\[s\]\.run": \{\{ playbook_dir \}\}\/scripts\/\.\.\. is not in the bundle.*add scripts to "files:"/],
      [`name: pb\n${STEP}    run: cat {{ playbook_dir }}/../secret\n`, /field "steps\[s\]\.run": \{\{ playbook_dir \}\}\/\.\.\/secret is not in the bundle/],
    ]
    for (const [text, pattern] of cases) {
      writeFileSync(join(d, 'pb.yaml'), text)
      expect(() => loadPlaybook(join(d, 'pb.yaml')), text).toThrow(pattern)
    }
  })

  it('accepts {{ playbook_dir }}/X for bundled files, anything under a listed folder, and templated names under a listed folder', () => {
    const d = folder({'scripts/a.sh': '', 'tools/x.py': ''})
    writeFileSync(
      join(d, 'pb.yaml'),
      `name: pb\nfiles: [scripts, tools/x.py]\nvars:\n  dir: "{{ playbook_dir }}/scripts"\n  name: a\n${STEP}    run: bash {{ playbook_dir }}/scripts/{{ name }}.sh; python3 {{ playbook_dir }}/tools/x.py; ls {{ playbook_dir }}/scripts/ {{ playbook_dir }}; echo {{ playbook_dir }}/scripts/new.log\n`,
    )
    expect(loadPlaybook(join(d, 'pb.yaml')).bundleFiles).toEqual(['pb.yaml', 'scripts/a.sh', 'tools/x.py'])
  })

  it('refuses paths that leave the playbook folder: absolute, climbing, symlinks out (listed, inside a listed folder, as a template)', () => {
    const outside = folder({'secret.txt': 's3cret'})
    const d = folder({'lib/ok.sh': '', 'inner.conf': 'x\n'})
    symlinkSync(join(outside, 'secret.txt'), join(d, 'leak'))
    symlinkSync(outside, join(d, 'lib', 'out'))
    symlinkSync(join(d, 'inner.conf'), join(d, 'alias.conf'))
    mkdirSync(join(d, 'empty', 'sub'), {recursive: true})
    const cases: Array<[string, RegExp]> = [
      [`name: pb\nfiles: [/etc/hostname]\n${STEP}    run: "true"\n`, /pb\.yaml:2: field "files\[0\]": \/etc\/hostname is an absolute path/],
      [`name: pb\nfiles:\n  - lib/../../x\n${STEP}    run: "true"\n`, /pb\.yaml:3: field "files\[0\]": lib\/\.\.\/\.\.\/x climbs out of the playbook's folder/],
      [`name: pb\nfiles: [lib/ok.sh, leak]\n${STEP}    run: "true"\n`, new RegExp(`pb\\.yaml:2: field "files\\[1\\]": leak resolves \\(through a symlink\\) to ${outside}/secret\\.txt, outside the playbook's folder`)],
      [`name: pb\nfiles: [lib]\n${STEP}    run: "true"\n`, /pb\.yaml:2: field "files\[0\]": lib\/out \(in lib\) resolves \(through a symlink\) to .*, outside the playbook's folder/],
      [`name: pb\n${STEP}    template: {src: leak, dest: /tmp/x}\n`, /pb\.yaml:4: field "steps\[s\]\.template\.src": leak resolves \(through a symlink\)/],
      [`name: pb\n${STEP}    template: {src: ../../../../etc/shadow, dest: /tmp/x}\n`, /pb\.yaml:4: field "steps\[s\]\.template\.src": \.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow climbs out/],
      [`name: pb\nfiles: [lib/ok.sh, empty]\n${STEP}    run: "true"\n`, /pb\.yaml:2: field "files\[1\]": empty is a folder with no files in it/],
    ]
    for (const [text, pattern] of cases) {
      writeFileSync(join(d, 'pb.yaml'), text)
      expect(() => loadPlaybook(join(d, 'pb.yaml')), text).toThrow(pattern)
    }
    // A symlink that stays inside the folder is fine.
    writeFileSync(join(d, 'pb.yaml'), `name: pb\n${STEP}    template: {src: alias.conf, dest: /tmp/x}\n`)
    expect(loadPlaybook(join(d, 'pb.yaml')).bundleFiles).toEqual(['alias.conf', 'pb.yaml'])
  })
})
