import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {UserError} from '../errors/user-error.js'

export interface BundleFile {
  /** Path inside the bundle directory. */
  rel: string
  data: Buffer
  mode: number
}

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
  if (!tar) tars.set(bundle, (tar = ustar(bundle.files)))
  return tar
}

function ustar(files: readonly BundleFile[]): Buffer {
  const parts: Buffer[] = []
  const mtime = Math.floor(Date.now() / 1000)
  for (const f of files) {
    const path = f.rel
    let name = path
    let prefix = ''
    if (Buffer.byteLength(path) > 100) {
      // ustar: PREFIX/NAME with NAME at most 100 bytes and PREFIX at most 155
      const at = [...path.matchAll(/\//g)].map((m) => m.index!).find((i) => Buffer.byteLength(path.slice(i + 1)) <= 100 && Buffer.byteLength(path.slice(0, i)) <= 155)
      if (at === undefined) throw new Error(`bundle path too long for a tar header: ${path}`)
      prefix = path.slice(0, at)
      name = path.slice(at + 1)
    }
    const h = Buffer.alloc(512)
    const put = (s: string, at: number, len: number) => h.write(s, at, len, 'utf8')
    const octal = (n: number, at: number, len: number) => put(`${n.toString(8).padStart(len - 1, '0')}\0`, at, len)
    put(name, 0, 100)
    octal(f.mode & 0o7777, 100, 8)
    octal(0, 108, 8)
    octal(0, 116, 8)
    octal(f.data.length, 124, 12)
    octal(mtime, 136, 12)
    put('        ', 148, 8)
    put('0', 156, 1)
    put('ustar\0', 257, 6)
    put('00', 263, 2)
    put(prefix, 345, 155)
    let sum = 0
    for (const b of h) sum += b
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8)
    parts.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}
