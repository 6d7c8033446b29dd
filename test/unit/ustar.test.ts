import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {ustar} from '../../src/archive/ustar.js'

// The bundle upload and the SSM upload both unpack these with GNU tar on the host.
describe('ustar', () => {
  const dirs: string[] = []
  const untar = (tar: Buffer) => {
    const out = mkdtempSync(join(tmpdir(), 'ustar-'))
    dirs.push(out)
    execFileSync('tar', ['-xpf', '-', '-C', out], {input: tar})
    return out
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
  })

  it('unpacks with GNU tar: contents, modes, nested and long paths, mtime', () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(90)}`
    const out = untar(
      ustar(
        [
          {rel: long, data: Buffer.from('long name\n'), mode: 0o600},
          {rel: 'a/b/c.sh', data: Buffer.alloc(1500, 'x'), mode: 0o755},
          {rel: 'empty', data: Buffer.alloc(0), mode: 0o640},
        ],
        {mtime: 1_234_567_890},
      ),
    )
    expect(readFileSync(join(out, long), 'utf8')).toBe('long name\n')
    expect(statSync(join(out, long)).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(out, 'a/b/c.sh')).equals(Buffer.alloc(1500, 'x'))).toBe(true)
    expect(statSync(join(out, 'a/b/c.sh')).mode & 0o777).toBe(0o755)
    expect(statSync(join(out, 'empty')).size).toBe(0)
    expect(statSync(join(out, 'empty')).mtimeMs).toBe(1_234_567_890_000)
    expect(execFileSync('tar', ['-tvf', '-'], {input: ustar([{rel: 'x', data: Buffer.from('1'), mode: 0o644}])}).toString()).toMatch(/^-rw-r--r-- root\/root +1 /)
  })

  it('makes the same bytes for the same files unless told a time', () => {
    const files = [{rel: 'x', data: Buffer.from('same'), mode: 0o644}]
    expect(ustar(files).equals(ustar(files))).toBe(true)
    expect(ustar(files, {mtime: 1}).equals(ustar(files))).toBe(false)
  })

  it('refuses paths that would land outside the target or do not fit a header', () => {
    const f = (rel: string) => () => ustar([{rel, data: Buffer.alloc(0), mode: 0o644}])
    expect(f('/etc/passwd')).toThrow(/not a relative path/)
    expect(f('a/../../b')).toThrow(/not a relative path/)
    expect(f('a//b')).toThrow(/not a relative path/)
    expect(f('x'.repeat(101))).toThrow(/too long/)
    expect(f(`${'p'.repeat(160)}/name`)).toThrow(/too long/)
  })
})
