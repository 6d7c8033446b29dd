/**
 * The file tests the agent answers without a shell (src/agent/builtins/file-test.ts) are
 * bash's answers: every script below is run by bash (as steps run, -eo pipefail) on real
 * files, a directory, symlinks good and broken, an empty file, and compared; and what the
 * shortcut does not take is left to bash.
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {fileTest} from '../../src/agent/builtins/file-test.js'
import {shq} from '../../src/shell/quote.js'

const d = mkdtempSync(join(tmpdir(), 'fleet-file-test-'))
mkdirSync(join(d, 'dir'))
writeFileSync(join(d, 'full'), 'x')
writeFileSync(join(d, 'empty'), '')
writeFileSync(join(d, "it's spaced"), 'x')
symlinkSync(join(d, 'full'), join(d, 'link'))
symlinkSync(join(d, 'gone'), join(d, 'broken'))
const P = (name: string) => shq(join(d, name))

const bash = (script: string) => spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script]).status === 0

const taken = [
  ...['-e', '-f', '-d', '-s', '-L', '-h'].flatMap((op) => ['full', 'empty', 'dir', 'link', 'broken', 'missing', "it's spaced"].map((f) => `test ${op} ${P(f)}`)),
  `test -f ${P('full')} -o -f ${P('missing')}`,
  `test -f ${P('missing')} -o -f ${P('gone')}`,
  `test -f ${P('full')} -a -d ${P('dir')}`,
  `test -f ${P('full')} -a -d ${P('full')}`,
  `[ -d ${P('dir')} ]`,
  `[ -f ${P('dir')} ]`,
  `test -d ${P('dir')} && test -f ${P('full')}`,
  `test -d ${P('missing')} && test -f ${P('full')}`,
  `test -d ${P('dir')}&&[ -s ${P('empty')} ]`,
  `  test -f ${P('full')}\n`,
  `test -f ${shq(d)}/full`,
  `test -f ''`,
]

const left = [
  `test -f ${P('full')} -o -f ${P('x')} -a -f ${P('y')}`,
  `test -f full`,
  `test -f $HOME/x`,
  `test -f "${join(d, 'full')}"`,
  `test -f ${P('full')} || true`,
  `test -f ${P('full')}; echo`,
  `test -f ${P('full')}\ntest -d ${P('dir')}`,
  `test -x ${P('full')}`,
  `! test -f ${P('full')}`,
  `[ -f ${P('full')}`,
  `test ${P('full')}`,
  `test -f ${P('full')} &&`,
  `test -f ${P('full')} # done`,
  `test "$(id -u)" = 0`,
  `testx -f ${P('full')}`,
]

describe('file tests without a shell', () => {
  it.each(taken)('%j: answered as bash answers it', (script) => {
    expect(fileTest(script)).toBe(bash(script))
  })
  it.each(left)('%j: left to bash', (script) => {
    expect(fileTest(script)).toBeUndefined()
  })
})
