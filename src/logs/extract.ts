import {lstatSync, mkdirSync, readdirSync} from 'node:fs'
import {join, posix} from 'node:path'
import {extract, type ReadEntry} from 'tar'

/** An archive entry that was not extracted, and why. */
export interface Refused {
  path: string
  reason: string
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile'])

/**
 * Why an entry of a host's archive must not be extracted, or undefined when it
 * is safe: only files, folders and symlinks that point into the folder; no
 * absolute names, no `..`, no hard links, no devices or FIFOs. The archive is
 * made by a host, and a host may be hostile.
 */
export function refusal(entry: Pick<ReadEntry, 'path' | 'type' | 'linkpath'>): string | undefined {
  const name = entry.path
  if (name.includes('\0')) return 'a NUL in the name'
  if (posix.isAbsolute(name) || /^[A-Za-z]:/.test(name) || name.includes('\\')) return 'an absolute or non-POSIX name'
  if (name.split('/').includes('..')) return 'a ".." in the name'
  if (entry.type === 'Directory' || FILE_TYPES.has(entry.type)) return undefined
  if (entry.type === 'SymbolicLink') {
    const target = entry.linkpath ?? ''
    // A link that only ever goes down from its own folder stays inside, even through other such links.
    if (!target || target.includes('\0') || posix.isAbsolute(target) || target.includes('\\') || target.split('/').includes('..')) return `a symlink to ${JSON.stringify(target)}, outside the folder`
    return undefined
  }
  if (entry.type === 'Link') return `a hard link to ${JSON.stringify(entry.linkpath ?? '')}`
  return `a ${entry.type} entry`
}

/**
 * Extract a gzipped tar file into `dest` (created if needed) with node-tar,
 * refusing every entry `refusal` names. Owners are not kept and modes are
 * tamed (no set-id bits; readable and writable by us). Returns what was refused.
 */
export async function extractArchive(file: string, dest: string): Promise<{refused: Refused[]}> {
  mkdirSync(dest, {recursive: true, mode: 0o700})
  const refused: Refused[] = []
  await extract({
    file,
    cwd: dest,
    strict: false,
    preservePaths: false,
    preserveOwner: false,
    filter: (path, entry) => {
      const e = entry as ReadEntry
      const why = refusal(e)
      if (why) {
        refused.push({path, reason: why})
        return false
      }
      if (typeof e.mode === 'number') e.mode = (e.mode & 0o755) | (e.type === 'Directory' ? 0o700 : 0o600)
      return true
    },
    // node-tar's own checks (for example a path through a symlink) are the second line.
    onwarn: (code, message, data) => {
      if (code !== 'TAR_ENTRY_INFO') {
        const d = data as {path?: string; entry?: {path?: string}}
        refused.push({path: String(d.path ?? d.entry?.path ?? '?'), reason: message})
      }
    },
  })
  return {refused}
}

/** Regular files under `dir` (symlinks not followed) and their total size. */
export function countFiles(dir: string): {files: number; bytes: number} {
  let files = 0
  let bytes = 0
  const walk = (d: string) => {
    let names: string[]
    try {
      names = readdirSync(d)
    } catch {
      return
    }
    for (const n of names) {
      const p = join(d, n)
      const st = lstatSync(p)
      if (st.isDirectory()) walk(p)
      else if (st.isFile()) {
        files++
        bytes += st.size
      }
    }
  }
  walk(dir)
  return {files, bytes}
}
