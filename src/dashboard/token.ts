import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'
import type {IncomingMessage} from 'node:http'
import {UserError} from '../errors/user-error.js'

/** A new token: 24 random bytes, URL-safe base64 (32 characters). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url')
}

/** A --token must go into a URL as it is and not be guessable in a room's time. */
export function checkGivenToken(token: string): string {
  if (!/^[A-Za-z0-9._~-]{12,}$/.test(token)) throw new UserError('--token: give at least 12 characters of A-Z, a-z, 0-9, ".", "_", "~", "-" (or leave it out and one is generated).')
  return token
}

/** Whether `given` is the token, in constant time (both sides hashed first, so the lengths are equal). */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false
  const a = createHash('sha256').update(expected).digest()
  const b = createHash('sha256').update(given).digest()
  return timingSafeEqual(a, b)
}

/** The token a request carries: `?token=` or `Authorization: Bearer ...`. */
export function requestToken(req: IncomingMessage, url: URL): string | undefined {
  const q = url.searchParams.get('token')
  if (q !== null) return q
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
  return m?.[1]
}
