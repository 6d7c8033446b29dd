import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import ssh2 from 'ssh2'
import {describe, expect, it} from 'vitest'
import {identityKey, loadKey} from '../../src/transport/ssh-keys.js'
import {tempDir} from '../helpers/agent-cli.js'

function keygen(type: string, passphrase = ''): string {
  const file = join(tempDir(), `id_${type}`)
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-f', file])
  return file
}

describe('SSH private keys, parsed once per process', () => {
  it("an Ed25519 key signs with a parsed key: the same signature as ssh2's own, still a key ssh2 accepts as parsed", () => {
    const file = keygen('ed25519')
    const loaded = identityKey(file)
    if ('error' in loaded) throw loaded.error
    const theirs = ssh2.utils.parseKey(readFileSync(file)) as ssh2.ParsedKey
    const data = Buffer.from('session id and userauth request')
    expect(Buffer.compare(loaded.key.sign(data) as Buffer, theirs.sign(data) as Buffer)).toBe(0)
    expect(loaded.key.verify(data, loaded.key.sign(data) as Buffer)).toBe(true)
    expect(loaded.key.sign).not.toBe(theirs.sign) // the quick path, not ssh2's PEM one
    expect(ssh2.utils.parseKey(loaded.key as never)).toBe(loaded.key) // handed back as it is
    expect(loaded.key.getPublicSSH().equals(theirs.getPublicSSH())).toBe(true)
  })

  it('reads and parses a file once for every host that uses it; a passphrase is part of what it is cached by', () => {
    const file = keygen('ed25519', 'sekrit')
    const none = identityKey(file)
    expect('error' in none && none.error.message).toMatch(/passphrase/i)
    const first = identityKey(file, 'sekrit')
    writeFileSync(file, 'not a key any more') // read already: the room's later hosts use what was read
    expect(identityKey(file, 'sekrit')).toBe(first)
    expect('key' in first).toBe(true)
  })

  it("other kinds keep ssh2's signing; text that is no key is an error, not a throw", () => {
    const rsa = loadKey(readFileSync(keygen('rsa')))
    if ('error' in rsa) throw rsa.error
    const data = Buffer.from('x')
    expect(rsa.key.verify(data, rsa.key.sign(data, 'sha256') as Buffer, 'sha256')).toBe(true)
    const bad = loadKey('-----BEGIN NOTHING-----')
    expect('error' in bad).toBe(true)
  })
})
