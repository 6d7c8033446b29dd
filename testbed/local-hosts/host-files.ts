/**
 * A set's files on disk: the client key pair(s) in baseDir/client, each host's
 * directory (ed25519 host key, sshd_config; sshd adds its pid file and log), and each
 * account's home, wiped and recreated at every start holding only
 * .ssh/authorized_keys, owned by the account, so no run sees what the last one left.
 */
import {chmod, chown, mkdir, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {generateEd25519} from '../machine/keys.js'
import type {LocalHost} from './types.js'

/** `ssh-ed25519 AAAA…` without the comment. */
function publicOf(openssh: string): string {
  return openssh.trim().split(/\s+/).slice(0, 2).join(' ')
}

/**
 * New client key pairs: one for the set, or one per host (named after `perHostNames`).
 * Returns each key's private key file and public key line.
 */
export async function writeClientKeys(baseDir: string, prefix: string, perHostNames?: string[]): Promise<Array<{file: string; publicKey: string}>> {
  const clientDir = join(baseDir, 'client')
  await mkdir(clientDir, {recursive: true, mode: 0o700})
  const keys = Array.from({length: perHostNames ? perHostNames.length : 1}, (_, k) => generateEd25519(`fleet-localhosts-${prefix}${perHostNames ? `-${k + 1}` : ''}`))
  return Promise.all(
    keys.map(async (key, k) => {
      const file = join(clientDir, perHostNames ? `id_ed25519_${perHostNames[k]}` : 'id_ed25519')
      await writeFile(file, key.privateKey, {mode: 0o600})
      await writeFile(`${file}.pub`, key.publicKey + '\n', {mode: 0o644})
      return {file, publicKey: key.publicKey}
    }),
  )
}

/** A host's directory (a new host key, `config` as its sshd_config) and its clean home letting `clientPublicKey` in. Sets h.hostKeyPublic. */
export async function writeHostFiles(h: LocalHost, config: string, clientPublicKey: string): Promise<void> {
  const hostKey = generateEd25519(`${h.user}@${h.address}`)
  h.hostKeyPublic = publicOf(hostKey.publicKey)
  await mkdir(h.dir, {recursive: true, mode: 0o700})
  await Promise.all([
    writeFile(h.hostKeyFile, hostKey.privateKey, {mode: 0o600}),
    writeFile(`${h.hostKeyFile}.pub`, hostKey.publicKey + '\n', {mode: 0o644}),
    writeFile(h.configFile, config, {mode: 0o600}),
  ])
  // A clean, empty home at every start: no dotfiles, nothing from the last run.
  await rm(h.home, {recursive: true, force: true})
  await mkdir(join(h.home, '.ssh'), {recursive: true, mode: 0o700})
  await writeFile(join(h.home, '.ssh', 'authorized_keys'), clientPublicKey + '\n', {mode: 0o600})
  await chmod(h.home, 0o755)
  await chmod(join(h.home, '.ssh'), 0o700)
  await Promise.all([
    chown(h.home, h.uid, h.gid),
    chown(join(h.home, '.ssh'), h.uid, h.gid),
    chown(join(h.home, '.ssh', 'authorized_keys'), h.uid, h.gid),
  ])
}

/** Replace a host's key file with a new key (write + rename: sshd never reads half a key). Sets and returns h.hostKeyPublic. */
export async function replaceHostKey(h: LocalHost): Promise<string> {
  const key = generateEd25519(`${h.user}@${h.address}`)
  await writeFile(`${h.hostKeyFile}.new`, key.privateKey, {mode: 0o600})
  await rename(`${h.hostKeyFile}.new`, h.hostKeyFile)
  await writeFile(`${h.hostKeyFile}.pub`, key.publicKey + '\n', {mode: 0o644})
  h.hostKeyPublic = publicOf(key.publicKey)
  return h.hostKeyPublic
}
