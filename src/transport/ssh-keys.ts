import {createPrivateKey, sign, type KeyObject} from 'node:crypto'
import {readFileSync} from 'node:fs'
import ssh2 from 'ssh2'
import type {ParsedKey} from 'ssh2'

const {utils} = ssh2

/**
 * A private key for ssh2, parsed once per process for every host that uses it: a room's
 * hosts share one or two identity files, and each connection would otherwise read and
 * parse the file again, then sign with the key as PEM text, which OpenSSL parses at every
 * signature (~0.5 ms of CPU each; ~0.03 ms with a parsed key).
 */
export type LoadedKey = {key: ParsedKey} | {error: Error}

const files = new Map<string, LoadedKey>()

/** An identity file's key (cached by path and passphrase); a file that cannot be read throws its errno. */
export function identityKey(file: string, passphrase?: string): LoadedKey {
  const id = `${passphrase === undefined ? '-' : `+${passphrase}`}\0${file}`
  let loaded = files.get(id)
  if (!loaded) files.set(id, (loaded = loadKey(readFileSync(file), passphrase)))
  return loaded
}

/** A key in memory (OpenSSH or PEM text), parsed and made quick to sign with. */
export function loadKey(text: string | Buffer, passphrase?: string): LoadedKey {
  const parsed = utils.parseKey(text, passphrase)
  if (parsed instanceof Error) return {error: parsed}
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  return {key: quickSigning(key)}
}

/**
 * Ed25519 (what ssh-keygen makes by default) signs with a KeyObject made once; its
 * signatures are deterministic, so the same bytes as ssh2's own. Other kinds keep
 * ssh2's signing (their hash follows the negotiated algorithm).
 */
function quickSigning(key: ParsedKey): ParsedKey {
  const pem = key.type === 'ssh-ed25519' && key.isPrivateKey() ? key.getPrivatePEM() : null
  if (!pem) return key
  let keyObject: KeyObject
  try {
    keyObject = createPrivateKey(pem)
  } catch {
    return key
  }
  // ssh2 tells a parsed key by a marker it reads through the prototype chain: this is still one.
  // Like ssh2's own, a failure is returned, not thrown.
  const quick = (data: Buffer): Buffer | Error => {
    try {
      return sign(null, data, keyObject)
    } catch (e) {
      return e as Error
    }
  }
  return Object.create(key, {sign: {value: quick}}) as ParsedKey
}
