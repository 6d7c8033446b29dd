import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {type ArchiveFile, ustar} from '../archive/ustar.js'
import {UserError} from '../errors/user-error.js'

/** A file of the bundle; `rel` is its path inside the bundle directory. */
export type BundleFile = ArchiveFile

/**
 * What every host gets: the agent (dist/agent) and the playbook's folder. It is
 * uploaded into a directory named by its content hash, so a host that has it
 * already is skipped and two versions never mix.
 */
export interface Bundle {
  hash: string
  files: BundleFile[]
  /** The playbook's path inside the bundle. */
  playbookRel: string
  bytes: number
}

/** The repository (or installed package) root: where dist/ and playbooks/ are. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the fleet package root')
    dir = up
  }
  return dir
}

/** `--playbook NAME|PATH`: a name is a playbook shipped in playbooks/, anything with a slash or .yaml a file. */
export function resolvePlaybook(nameOrPath: string): string {
  const isPath = nameOrPath.includes('/') || /\.ya?ml$/.test(nameOrPath)
  const path = isPath ? resolve(nameOrPath) : join(packageRoot(), 'playbooks', `${nameOrPath}.yaml`)
  if (!existsSync(path)) {
    const shipped = readdirSync(join(packageRoot(), 'playbooks')).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, ''))
    throw new UserError(isPath ? `--playbook: ${nameOrPath} does not exist.` : `--playbook: no playbook named "${nameOrPath}" (shipped: ${shipped.join(', ')}); give a name or a path to a .yaml file.`)
  }
  return path
}

function walk(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((d) => {
    const p = join(dir, d.name)
    if (d.isDirectory()) return walk(p)
    return d.isFile() ? [p] : []
  })
}

export function buildBundle(playbookPath: string): Bundle {
  const root = packageRoot()
  const agentDir = join(root, 'dist', 'agent')
  if (!existsSync(join(agentDir, 'agent.mjs'))) throw new UserError(`${agentDir}/agent.mjs is missing; run "npm run build" first.`)
  const files: BundleFile[] = []
  // agent.mjs, the chunks it imports, and package.json (oclif's explicit command list).
  for (const name of readdirSync(agentDir).filter((n) => n.endsWith('.mjs') || n === 'package.json')) {
    const p = join(agentDir, name)
    files.push({rel: name, data: readFileSync(p), mode: 0o644})
  }
  // The playbook's whole folder: its templates sit beside it.
  const pbDir = dirname(playbookPath)
  for (const p of walk(pbDir)) files.push({rel: join('playbooks', relative(pbDir, p)), data: readFileSync(p), mode: statSync(p).mode & 0o755})
  files.sort((a, b) => a.rel.localeCompare(b.rel))
  const h = createHash('sha256')
  for (const f of files) h.update(f.rel).update('\0').update(createHash('sha256').update(f.data).digest()).update('\0')
  return {hash: h.digest('hex').slice(0, 16), files, playbookRel: join('playbooks', basename(playbookPath)), bytes: files.reduce((n, f) => n + f.data.length, 0)}
}

const tars = new WeakMap<Bundle, Buffer>()

/**
 * The bundle as one tar stream (POSIX ustar, file entries only), made once per
 * fleet run: one exec that unpacks it from stdin costs the host and fleet less
 * than an SFTP write per file (see BENCHMARKS.md).
 */
export function bundleTar(bundle: Bundle): Buffer {
  let tar = tars.get(bundle)
  if (!tar) tars.set(bundle, (tar = ustar(bundle.files, {mtime: Math.floor(Date.now() / 1000)})))
  return tar
}
