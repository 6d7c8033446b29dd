import {lstatSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {UserError} from '../errors/user-error.js'
import {loadPlaybook} from '../playbook/load.js'
import {REDACTED} from './redact.js'

/** Replace every occurrence of `secret` in a buffer, byte for byte (text or not). */
function replaceAll(data: Buffer, secret: Buffer, mask: Buffer): Buffer | undefined {
  let at = data.indexOf(secret)
  if (at === -1) return undefined
  const parts: Buffer[] = []
  let from = 0
  while (at !== -1) {
    parts.push(data.subarray(from, at), mask)
    from = at + secret.length
    at = data.indexOf(secret, from)
  }
  parts.push(data.subarray(from))
  return Buffer.concat(parts)
}

/**
 * Redact a playbook's secret values in every regular file under `dirs`, in
 * place. For files collected from hosts as they are (declared log paths),
 * which the agent did not write and so did not redact. Runs where the
 * secrets already are (the instructor's machine); it never prints them.
 */
export function redactTree(playbook: string, vars: string | undefined, dirs: string[]): {files: number; changed: number} {
  // Every folder first: a mistyped one is said before any file is rewritten.
  for (const d of dirs) {
    let folder: boolean
    try {
      folder = statSync(d).isDirectory()
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      throw new UserError(`${d}: ${code === 'ENOENT' ? 'no such folder' : `cannot be read (${code})`}; give agent redact the folders to redact in place.`)
    }
    if (!folder) throw new UserError(`${d} is not a folder; give agent redact the folders to redact in place.`)
  }
  const secrets = [...new Set(loadPlaybook(playbook, vars).secretValues)].sort((a, b) => b.length - a.length).map((s) => Buffer.from(s))
  const mask = Buffer.from(REDACTED)
  let files = 0
  let changed = 0
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, {withFileTypes: true})) {
      const p = join(dir, d.name)
      if (d.isDirectory()) walk(p)
      else if (d.isFile() && !lstatSync(p).isSymbolicLink()) {
        files++
        let data: Buffer = readFileSync(p)
        let dirty = false
        for (const s of secrets) {
          const next = replaceAll(data, s, mask)
          if (next) {
            data = next
            dirty = true
          }
        }
        if (dirty) {
          writeFileSync(p, data)
          changed++
        }
      }
    }
  }
  if (secrets.length) for (const d of dirs) walk(d)
  return {files, changed}
}
