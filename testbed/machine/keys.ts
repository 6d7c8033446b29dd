/** SSH keys for the test bed's hosts and clients (host keys, client identities). */
import {generateKeyPairSync, randomBytes} from 'node:crypto'

/**
 * A fresh ed25519 key pair in OpenSSH formats, built with node:crypto.
 *
 * Not ssh2's utils.generateKeyPairSync('ed25519'): in ssh2 1.17 it drops leading zero
 * bytes of the key (as if it were an mpint), so about 1 key in 128 is unreadable
 * ("Load key: error in libcrypto" in sshd and ssh-keygen).
 */
export function generateEd25519(comment = ''): {privateKey: string; publicKey: string} {
  const {publicKey, privateKey} = generateKeyPairSync('ed25519')
  const pub = Buffer.from(publicKey.export({format: 'jwk'}).x!, 'base64url')
  const seed = Buffer.from(privateKey.export({format: 'jwk'}).d!, 'base64url')
  const type = Buffer.from('ssh-ed25519')
  const pubBlob = concatStrings(type, pub)

  const check = randomBytes(4)
  let priv = Buffer.concat([check, check, concatStrings(type, pub, Buffer.concat([seed, pub]), Buffer.from(comment))])
  const pad = (8 - (priv.length % 8)) % 8
  priv = Buffer.concat([priv, Buffer.from(Array.from({length: pad}, (_, i) => i + 1))])

  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    concatStrings(Buffer.from('none'), Buffer.from('none'), Buffer.alloc(0)),
    u32(1),
    concatStrings(pubBlob, priv),
  ])
  const b64 = body.toString('base64').replace(/.{70}/g, '$&\n').replace(/\n$/, '')
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${pubBlob.toString('base64')}${comment ? ` ${comment}` : ''}`,
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/** SSH wire "string"s: each a uint32 length and the bytes. */
function concatStrings(...parts: Buffer[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => [u32(p.length), p]))
}
