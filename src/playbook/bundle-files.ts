import {lstatSync, readdirSync, realpathSync, statSync} from 'node:fs'
import {basename, isAbsolute, join, posix, sep} from 'node:path'
import {UserError} from '../errors/user-error.js'
import type {PlaybookSpec, StepSpec} from './schema.js'
import {lineOf, type YamlFile} from './yaml-places.js'

/**
 * What a playbook's bundle holds from the playbook's folder, and nothing else:
 * the playbook file, every step's `template.src`, and the top-level `files:`
 * list (files or folders, a folder taken whole). Every path must stay inside
 * the playbook's folder, symlinks resolved, so nothing beside or above it (the
 * room's private key, the hosts file, fleet.db, other playbooks) can reach a
 * host. A literal `{{ playbook_dir }}/X` in a step's shell fields, env or a
 * string var must name something the bundle holds: a script the author forgot
 * to list is refused here, not found missing on thirty hosts.
 */

/** One refusal: `FILE:LINE: field "FIELD": MESSAGE.` */
function refuse(y: YamlFile, at: PropertyKey[], field: string, message: string): never {
  throw new UserError(`${y.file}:${lineOf(y, at)}: field "${field}": ${message}.`)
}

function realDir(dir: string): string {
  try {
    return realpathSync(dir)
  } catch {
    return dir
  }
}

function inside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep)
}

/**
 * A path the playbook names (a template's src, a `files:` entry) checked and
 * normalized: relative, not climbing out, existing, and inside the playbook's
 * folder once symlinks are resolved. Returns the normalized relative path.
 */
export function bundlePath(y: YamlFile, dir: string, path: string, at: PropertyKey[], field: string): string {
  if (isAbsolute(path)) refuse(y, at, field, `${path} is an absolute path; the bundle takes only paths relative to the playbook's folder`)
  const rel = posix.normalize(path.replace(/\\/g, '/')).replace(/\/+$/, '')
  if (rel === '..' || rel.startsWith('../')) refuse(y, at, field, `${path} climbs out of the playbook's folder; the bundle takes only what is inside it`)
  const abs = join(dir, rel)
  try {
    lstatSync(abs)
  } catch {
    refuse(y, at, field, `${path} does not exist beside the playbook`)
  }
  let real: string
  try {
    real = realpathSync(abs)
  } catch {
    refuse(y, at, field, `${path} is a symlink to something that does not exist`)
  }
  if (!inside(realDir(dir), real)) refuse(y, at, field, `${path} resolves (through a symlink) to ${real}, outside the playbook's folder`)
  return rel === '' ? '.' : rel
}

/** Every file under a listed folder (symlinks followed only while they stay inside the playbook's folder). */
function walkFolder(y: YamlFile, dir: string, rel: string, at: PropertyKey[], field: string, seen: Set<string>, out: string[]): void {
  const root = realDir(dir)
  const real = realpathSync(join(dir, rel))
  if (seen.has(real)) return
  seen.add(real)
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const child = rel === '.' ? name : `${rel}/${name}`
    const abs = join(dir, child)
    let target: string
    try {
      target = realpathSync(abs)
    } catch {
      refuse(y, at, field, `${child} (in ${rel}) is a symlink to something that does not exist`)
    }
    if (!inside(root, target)) refuse(y, at, field, `${child} (in ${rel}) resolves (through a symlink) to ${target}, outside the playbook's folder`)
    const st = statSync(abs)
    if (st.isDirectory()) walkFolder(y, dir, child, at, field, seen, out)
    else if (st.isFile()) out.push(child)
  }
}

/** Each step with its place in the YAML (`steps[i]` or `phases[g].steps[i]`). */
function stepsWithPlaces(spec: PlaybookSpec): Array<{s: StepSpec; at: PropertyKey[]}> {
  if (spec.phases) return spec.phases.flatMap((g, gi) => g.steps.map((s, si) => ({s, at: ['phases', gi, 'steps', si] as PropertyKey[]})))
  return (spec.steps ?? []).map((s, si) => ({s, at: ['steps', si] as PropertyKey[]}))
}

/** `{{ playbook_dir }}/X` (with optional filters and whitespace control); X ends at whitespace, a quote or a shell character. */
const PLAYBOOK_DIR_REF = /\{\{-?\s*playbook_dir\s*(?:\|[^}]*)?-?\}\}\/([^\s'"`;|&<>()$\\]*)/g

/** The paths relative to the playbook's folder that a value names through `{{ playbook_dir }}/`; `dynamic` when the path goes on with a template or a glob. */
function playbookDirRefs(value: string): Array<{path: string; dynamic: boolean}> {
  const out: Array<{path: string; dynamic: boolean}> = []
  for (const m of value.matchAll(PLAYBOOK_DIR_REF)) {
    let path = m[1]
    const cut = path.search(/[{*?[]/)
    const dynamic = cut >= 0
    if (dynamic) path = path.slice(0, cut)
    path = path.replace(/[.,:]+$/, '')
    out.push({path, dynamic})
  }
  return out
}

/**
 * The bundle's files (relative to the playbook's folder, sorted, unique, the
 * playbook itself included), after checking the `files:` list and
 * every `{{ playbook_dir }}/X` the steps and vars use. Template paths are
 * checked (by bundlePath) when the templates are read.
 */
export function bundleFileList(y: YamlFile, file: string, dir: string, spec: PlaybookSpec): string[] {
  const files = new Set<string>([basename(file)])
  const folders: string[] = []
  for (const {s, at} of stepsWithPlaces(spec)) {
    if (s.template) files.add(bundlePath(y, dir, s.template.src, [...at, 'template', 'src'], `steps[${s.id}].template.src`))
  }
  const seen = new Set<string>()
  ;(spec.files ?? []).forEach((entry, i) => {
    const at = ['files', i]
    const field = `files[${i}]`
    const rel = bundlePath(y, dir, entry, at, field)
    const st = statSync(join(dir, rel))
    if (st.isDirectory()) {
      folders.push(rel)
      const found: string[] = []
      walkFolder(y, dir, rel, at, field, seen, found)
      for (const f of found) files.add(f)
    } else if (st.isFile()) files.add(rel)
    else refuse(y, at, field, `${entry} is neither a file nor a folder`)
  })
  const list = [...files].sort()
  // The bundle carries files only: an empty folder would not exist on the host.
  ;(spec.files ?? []).forEach((entry, i) => {
    const rel = posix.normalize(entry).replace(/\/+$/, '')
    if (folders.includes(rel) && rel !== '.' && !list.some((f) => f.startsWith(`${rel}/`))) refuse(y, ['files', i], `files[${i}]`, `${entry} is a folder with no files in it; the bundle carries files only`)
  })
  const underFolder = (rel: string) => folders.some((f) => f === '.' || rel === f || rel.startsWith(`${f}/`))
  const covered = (path: string, dynamic: boolean): boolean => {
    if (path.startsWith('/') || path.split('/').includes('..')) return false
    if (dynamic) return list.some((f) => f.startsWith(path)) || underFolder(path.replace(/\/+$/, '')) || folders.some((f) => `${f}/`.startsWith(path))
    const rel = posix.normalize(path).replace(/\/+$/, '')
    return list.includes(rel) || underFolder(rel)
  }
  const check = (value: string | undefined, at: PropertyKey[], field: string) => {
    if (value === undefined) return
    for (const ref of playbookDirRefs(value)) {
      if (!ref.path && !ref.dynamic) continue
      if (covered(ref.path, ref.dynamic)) continue
      const listIt = ref.dynamic ? ref.path.replace(/\/?[^/]*$/, '') || ref.path : ref.path.replace(/\/+$/, '')
      refuse(y, at, field, `{{ playbook_dir }}/${ref.path}${ref.dynamic ? '...' : ''} is not in the bundle, which holds only the playbook, its templates and the paths under "files:"; add ${listIt} to "files:"`)
    }
  }
  for (const {s, at} of stepsWithPlaces(spec)) {
    for (const f of ['check', 'run', 'verify', 'undo'] as const) check(s[f], [...at, f], `steps[${s.id}].${f}`)
    check(s.wait_for?.command, [...at, 'wait_for', 'command'], `steps[${s.id}].wait_for.command`)
    check(s.reboot?.command, [...at, 'reboot', 'command'], `steps[${s.id}].reboot.command`)
    for (const [k, v] of Object.entries(s.env ?? {})) check(v, [...at, 'env', k], `steps[${s.id}].env.${k}`)
  }
  for (const [name, v] of Object.entries(spec.vars ?? {})) {
    if (typeof v === 'string') check(v, ['vars', name], `vars.${name}`)
    else if (v && typeof v === 'object' && !Array.isArray(v) && typeof (v as {value?: unknown}).value === 'string') check((v as {value: string}).value, ['vars', name, 'value'], `vars.${name}`)
  }
  return list
}
