/**
 * Files that must never leave the instructor's machine, whatever a playbook's
 * `files:` list says. The bundle is copied to every participant's jumphost, and
 * a participant has root there: a room's private SSH key, fleet's database (host
 * keys, every host's record), a .env, known_hosts or AWS credentials that slipped
 * into a listed folder would be handed to the whole room. The playbook loader
 * already keeps the bundle to what the playbook names; this is the second lock,
 * on the instructor's side, checked on every file just before it is packed.
 *
 * It judges by name and by content, and says only which kind of secret it saw:
 * never the content itself, so no secret reaches a message or a log.
 */
import {SQLITE_HEADER} from '../store/sqlite-header.js'

const PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/
const PUTTY_KEY = /^PuTTY-User-Key-File-\d+:/m
const AWS_SECRET = /aws_secret_access_key/i
const AWS_KEY_ID = /\bA(?:KIA|SIA)[0-9A-Z]{16}\b/
const SSH_KEY_NAME = /^id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?$/
const SQLITE_NAME = /\.(?:db|sqlite|sqlite3|db3)$|-(?:wal|shm|journal)$/i

/**
 * Why a file must not be shipped (a few words: "it holds a private key"), or
 * undefined when it looks harmless. `name` is the file's base name.
 */
export function secretReason(name: string, data: Buffer): string | undefined {
  const text = data.toString('latin1')
  if (PRIVATE_KEY.test(text)) return 'it holds a private key'
  if (PUTTY_KEY.test(text)) return 'it holds a PuTTY private key'
  if (data.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER)) return 'it is an SQLite database (like fleet.db, the record of the whole room)'
  if (AWS_SECRET.test(text)) return 'it holds AWS credentials (aws_secret_access_key)'
  if (AWS_KEY_ID.test(text)) return 'it holds an AWS access key id'
  if (SSH_KEY_NAME.test(name)) return 'it is named like an SSH private key'
  if (SQLITE_NAME.test(name)) return 'it is named like an SQLite database or its journal (like fleet.db, the record of the whole room)'
  if (name === '.env' || name.startsWith('.env.')) return 'it is an environment file (.env), where secrets are kept'
  if (name.startsWith('known_hosts')) return "it is an SSH known_hosts file (the room's host keys)"
  if (name === 'credentials') return 'it is named like an AWS credentials file'
  return undefined
}
