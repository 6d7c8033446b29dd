/**
 * A playbook's `artifacts:` (src/playbook/schema.ts, checked by loadPlaybook): what it fetches
 * from the internet, each named by a declared var holding its URL. The loader keeps them as
 * written and refuses, with file, line and field, an undeclared var, a bad kind or a var listed
 * twice. The workshop declares the ones a room cache mirrors.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {loadPlaybook} from '../../src/playbook/load.js'
import {UserError} from '../../src/errors/user-error.js'

const dir = mkdtempSync(join(tmpdir(), 'fleet-artifacts-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const VARS = ['vars:', '  image_url: https://example.org/img.qcow2', '  sums_url: https://example.org/SHA256SUMS', '  repo: https://example.org/r.git']
const STEPS = ['steps:', '  - id: s', '    run: "true"']

let n = 0
/** A playbook of LINES (joined), written to its own file. */
function playbook(lines: string[]): string {
  const f = join(dir, `pb-${++n}.yaml`)
  writeFileSync(f, [...lines, ''].join('\n'))
  return f
}

/** The UserError loading `f` throws. */
function refusal(f: string): UserError {
  try {
    loadPlaybook(f)
  } catch (e) {
    expect(e).toBeInstanceOf(UserError)
    return e as UserError
  }
  throw new Error(`${f} loaded; expected a UserError`)
}

describe('artifacts: loaded as declared', () => {
  it('http with checksum_var and git, their vars declared: playbook.artifacts is that list', () => {
    const f = playbook(['name: pb', ...VARS, 'artifacts:', '  - {var: image_url, kind: http, checksum_var: sums_url}', '  - {var: repo, kind: git}', ...STEPS])
    expect(loadPlaybook(f).artifacts).toEqual([
      {var: 'image_url', kind: 'http', checksum_var: 'sums_url'},
      {var: 'repo', kind: 'git'},
    ])
  })

  it('none declared: an empty list', () => {
    expect(loadPlaybook(playbook(['name: pb', ...VARS, ...STEPS])).artifacts).toEqual([])
  })
})

describe('artifacts: refused with file, line and field', () => {
  it('an artifact naming an undeclared var, at the artifact\'s line', () => {
    // VARS is lines 2-5, "artifacts:" line 6, the artifact line 7.
    const f = playbook(['name: pb', ...VARS, 'artifacts:', '  - var: nope', '    kind: http', ...STEPS])
    expect(refusal(f).message).toBe(`${f}:7: field "artifacts[0].var": the playbook has no var "nope"; declare it under vars: with its URL.`)
  })

  it('the line is the offending field\'s, for a later artifact too', () => {
    const f = playbook(['name: pb', ...VARS, 'artifacts:', '  - {var: repo, kind: git}', '  - kind: http', '    var: nope', ...STEPS])
    expect(refusal(f).message).toMatch(new RegExp(`^${escape(f)}:9: field "artifacts\\[1\\]\\.var": the playbook has no var "nope"`))
  })

  it('an undeclared checksum_var', () => {
    const f = playbook(['name: pb', ...VARS, 'artifacts:', '  - var: image_url', '    kind: http', '    checksum_var: sums', ...STEPS])
    expect(refusal(f).message).toBe(`${f}:9: field "artifacts[0].checksum_var": the playbook has no var "sums"; declare it under vars: with its URL.`)
  })

  it('a kind other than http or git, naming the field', () => {
    const f = playbook(['name: pb', ...VARS, 'artifacts:', '  - var: image_url', '    kind: ftp', ...STEPS])
    expect(refusal(f).message).toMatch(new RegExp(`^${escape(f)}:8: field "artifacts\\[0\\]\\.kind": must be "http" \\(a file\\) or "git" \\(a repository\\)`))
  })

  it('an unknown field in an artifact, and an artifact without a var', () => {
    const unknown = playbook(['name: pb', ...VARS, 'artifacts:', '  - var: image_url', '    kind: http', '    sha: abc', ...STEPS])
    expect(refusal(unknown).message).toMatch(new RegExp(`^${escape(unknown)}:9: field "artifacts\\[0\\]\\.sha": unknown field`))
    const noVar = playbook(['name: pb', ...VARS, 'artifacts:', '  - kind: http', ...STEPS])
    expect(refusal(noVar).message).toMatch(new RegExp(`^${escape(noVar)}:7: field "artifacts\\[0\\]\\.var"`))
  })

  it('the same var listed twice, at the second', () => {
    const f = playbook(['name: pb', ...VARS, 'artifacts:', '  - {var: image_url, kind: http}', '  - {var: repo, kind: git}', '  - {var: image_url, kind: http, checksum_var: sums_url}', ...STEPS])
    expect(refusal(f).message).toBe(`${f}:9: field "artifacts[2].var": image_url is listed twice.`)
  })
})

describe('the workshop declares what a room cache mirrors', () => {
  it('the IPA kernel and ramdisk, the deploy image with its checksum list, and Bifrost\'s repository', () => {
    const vars = join(dir, 'room.yaml')
    writeFileSync(vars, 'bmc_password: unit-pw\n')
    const pb = loadPlaybook(resolve('playbooks/workshop.yaml'), vars)
    expect(pb.artifacts).toEqual(
      expect.arrayContaining([
        {var: 'ipa_kernel_url', kind: 'http'},
        {var: 'ipa_ramdisk_url', kind: 'http'},
        {var: 'deploy_image_url', kind: 'http', checksum_var: 'deploy_image_checksum_url'},
        {var: 'bifrost_git_url', kind: 'git'},
      ]),
    )
  })
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
