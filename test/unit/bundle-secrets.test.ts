import {execFileSync} from 'node:child_process'
import {generateKeyPairSync} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {UserError} from '../../src/errors/user-error.js'
import {buildBundle} from '../../src/orchestrator/bundle.js'
import {secretReason} from '../../src/orchestrator/bundle-secrets.js'
import {tempDir} from '../helpers/agent-cli.js'

// The bundle's second lock (src/orchestrator/bundle-secrets.ts): whatever a playbook's
// files: list says, a file that looks like a secret never leaves the instructor's machine.

const dir = tempDir('fleet-secrets-')

/** A real key made by ssh-keygen, in the given format, read back. */
function sshKeygen(name: string, args: string[]): Buffer {
  const file = join(dir, name)
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', 'test', '-f', file, ...args])
  return readFileSync(file)
}

function sqliteFile(): Buffer {
  const file = join(dir, 'room.sqlite-made')
  const db = new Database(file)
  db.exec('CREATE TABLE hosts (name TEXT)')
  db.close()
  return readFileSync(file)
}

const rsa = generateKeyPairSync('rsa', {modulusLength: 2048})
const ec = generateKeyPairSync('ec', {namedCurve: 'P-256'})
const harmless = Buffer.from('#!/bin/sh\necho hello\n')

/** [what, file name, content, expected reason] */
const SECRETS: Array<[string, string, Buffer, RegExp]> = [
  ['an OpenSSH private key (ssh-keygen)', 'deploy', sshKeygen('ed', ['-t', 'ed25519']), /holds a private key/],
  ['an RSA key in PEM (ssh-keygen -m PEM)', 'rsa.key', sshKeygen('rsa-pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM']), /holds a private key/],
  ['an RSA key, PKCS#1', 'server.key', Buffer.from(rsa.privateKey.export({type: 'pkcs1', format: 'pem'}) as string), /holds a private key/],
  ['an EC key, SEC1', 'ec.pem', Buffer.from(ec.privateKey.export({type: 'sec1', format: 'pem'}) as string), /holds a private key/],
  ['a PKCS#8 key', 'key.pem', Buffer.from(rsa.privateKey.export({type: 'pkcs8', format: 'pem'}) as string), /holds a private key/],
  ['an encrypted PKCS#8 key', 'enc.pem', Buffer.from(rsa.privateKey.export({type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw'}) as string), /holds a private key/],
  ['a key pasted into a config file', 'notes.txt', Buffer.from(`key:\n${ec.privateKey.export({type: 'pkcs8', format: 'pem'})}`), /holds a private key/],
  ['a PuTTY key', 'room.ppk', Buffer.from('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: room\nPublic-Lines: 2\n'), /PuTTY private key/],
  ['an SQLite database by its content', 'state', sqliteFile(), /SQLite database/],
  ['fleet.db by its name', 'fleet.db', harmless, /SQLite database/],
  ['a .sqlite by its name', 'x.sqlite', harmless, /SQLite/],
  ['a .sqlite3 by its name', 'x.sqlite3', harmless, /SQLite/],
  ['a WAL file', 'fleet.db-wal', harmless, /SQLite/],
  ['a shared-memory file', 'fleet.db-shm', harmless, /SQLite/],
  ['a rollback journal', 'fleet.db-journal', harmless, /SQLite/],
  ['.env', '.env', Buffer.from('TOKEN=x\n'), /environment file/],
  ['.env.production', '.env.production', Buffer.from('TOKEN=x\n'), /environment file/],
  ['known_hosts', 'known_hosts', Buffer.from('host ssh-ed25519 AAAA\n'), /known_hosts/],
  ['known_hosts.old', 'known_hosts.old', Buffer.from('host ssh-ed25519 AAAA\n'), /known_hosts/],
  ['an AWS credentials file by its name', 'credentials', Buffer.from('[default]\n'), /AWS credentials/],
  ['AWS credentials by their content', 'aws.ini', Buffer.from('[default]\naws_access_key_id = x\naws_secret_access_key = y\n'), /aws_secret_access_key/],
  ['an AWS access key id', 'deploy.sh', Buffer.from('export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n'), /AWS access key id/],
  ['id_rsa by its name', 'id_rsa', harmless, /SSH private key/],
  ['id_dsa by its name', 'id_dsa', harmless, /SSH private key/],
  ['id_ecdsa by its name', 'id_ecdsa', harmless, /SSH private key/],
  ['id_ed25519 by its name', 'id_ed25519', harmless, /SSH private key/],
]

function selfSignedCertificate(): Buffer {
  const key = join(dir, 'cert.key')
  const cert = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=room.example'], {stdio: 'ignore'})
  return readFileSync(cert)
}

const HARMLESS: Array<[string, string, Buffer]> = [
  ['a public key', 'id_ed25519.pub', readFileSync(join(dir, 'ed.pub'))],
  ['an RSA public key in PEM', 'rsa.pub.pem', Buffer.from(rsa.publicKey.export({type: 'spki', format: 'pem'}) as string)],
  ['a .pem certificate', 'ca.pem', selfSignedCertificate()],
  ['a helper script', 'setup.sh', harmless],
  ['a template that mentions keys', 'sshd_config', Buffer.from('HostKey /etc/ssh/ssh_host_ed25519_key\nPubkeyAuthentication yes\n')],
  ['a .dbx file', 'notes.dbx', harmless],
  ['an environment template', 'env.example', Buffer.from('TOKEN=\n')],
]

describe('the secret rule', () => {
  it.each(SECRETS)('refuses %s', (_what, name, data, reason) => {
    expect(secretReason(name, data)).toMatch(reason)
  })

  it.each(HARMLESS)('accepts %s', (_what, name, data) => {
    expect(secretReason(name, data)).toBeUndefined()
  })

  it('buildBundle refuses a listed secret with one sentence naming the file (exit code 2), never its content', () => {
    const room = join(dir, 'room')
    mkdirSync(join(room, 'keys'), {recursive: true})
    writeFileSync(join(room, 'room.yaml'), 'name: room\nsteps:\n  - {id: one, run: "true"}\n')
    const key = rsa.privateKey.export({type: 'pkcs1', format: 'pem'}) as string
    writeFileSync(join(room, 'keys', 'deploy'), key)
    writeFileSync(join(room, 'setup.sh'), harmless)
    let err: unknown
    try {
      buildBundle(join(room, 'room.yaml'), ['room.yaml', 'keys/deploy', 'setup.sh'])
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(UserError)
    const e = err as UserError
    expect(e.exitCode).toBe(2)
    expect(e.message).toBe(`refusing to ship ${join(room, 'keys/deploy')} to the hosts: it holds a private key; keep secrets out of the playbook's files: list (README: "What goes into a bundle").`)
    expect(e.message).not.toContain(key.split('\n')[1])
    // Without the key the same list builds, with exactly those files.
    const b = buildBundle(join(room, 'room.yaml'), ['room.yaml', 'setup.sh'])
    expect(b.files.map((f) => f.rel).filter((r) => r.startsWith('playbooks/'))).toEqual(['playbooks/room.yaml', 'playbooks/setup.sh'])
  })

  it('buildBundle refuses a listed path outside the playbook folder, whatever the list says', () => {
    const room = join(dir, 'room2')
    mkdirSync(room, {recursive: true})
    writeFileSync(join(room, 'room.yaml'), 'name: room\nsteps:\n  - {id: one, run: "true"}\n')
    expect(() => buildBundle(join(room, 'room.yaml'), ['../room/setup.sh'])).toThrow(/refusing to ship \.\.\/room\/setup\.sh to the hosts: it is not a path inside the playbook's folder/)
    expect(() => buildBundle(join(room, 'room.yaml'), ['/etc/hostname'])).toThrow(/not a path inside/)
  })
})
