import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, realpathSync, statSync} from 'node:fs'
import {gzipSync} from 'node:zlib'
import {basename, dirname, isAbsolute, join, posix, relative, resolve, sep} from 'node:path'
import {type ArchiveFile, ustar} from '../archive/ustar.js'
import {UserError} from '../errors/user-error.js'
import {AGENT_ENTRY, compiledPath} from '../protocol/remote-layout.js'
import {hostAgentDir, packageRoot} from '../remote-agent/local-agent.js'
import {secretReason} from './bundle-secrets.js'

/** A file of the bundle; `rel` is its path inside the bundle directory. */
export type BundleFile = ArchiveFile

/**
 * What every host gets: the agent (of dist/agent, the files a host's run loads) and,
 * under playbooks/, exactly the files the playbook uses (the playbook, its templates, its
 * `files:` list, as the agent's dry run lists them; see README "What goes into a bundle"). It is
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

/** A path for messages: relative to the working directory when it is under it. */
function shown(abs: string): string {
  const rel = relative(process.cwd(), abs)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs
}

/**
 * One of the playbook's files, read for the bundle: the list comes from the
 * agent's dry run, and is checked again here (inside the playbook's folder,
 * symlinks resolved; a regular file; nothing that looks like a secret).
 */
function playbookFile(pbDir: string, rel: string, isPlaybook: boolean): BundleFile {
  const norm = posix.normalize(rel)
  const abs = join(pbDir, norm)
  if (isAbsolute(rel) || norm === '..' || norm.startsWith('../') || norm === '.') throw new UserError(`refusing to ship ${rel} to the hosts: it is not a path inside the playbook's folder ${shown(pbDir)}.`)
  let real: string
  try {
    real = realpathSync(abs)
  } catch {
    throw new UserError(`${shown(abs)}: listed for the bundle, but it does not exist.`)
  }
  const root = realpathSync(pbDir)
  // The playbook itself is the file the user named; it may be a symlink to a shared copy.
  if (!isPlaybook && !real.startsWith(root.endsWith(sep) ? root : root + sep)) throw new UserError(`refusing to ship ${shown(abs)} to the hosts: it resolves to ${real}, outside the playbook's folder.`)
  if (!statSync(real).isFile()) throw new UserError(`refusing to ship ${shown(abs)} to the hosts: it is not a regular file.`)
  const data = readFileSync(real)
  const reason = secretReason(basename(norm), data)
  if (reason) throw new UserError(`refusing to ship ${shown(abs)} to the hosts: ${reason}; keep secrets out of the playbook's files: list (README: "What goes into a bundle").`)
  return {rel: join('playbooks', norm), data, mode: statSync(real).mode & 0o755}
}

/**
 * The bundle of a playbook: the agent, and `files` (relative to the playbook's
 * folder: what validateLocally's dry run returns) under playbooks/. The
 * playbook file is always in it. Throws a UserError, before anything is sent
 * anywhere, for a file outside the folder or one that looks like a secret.
 */
export function buildBundle(playbookPath: string, playbookFiles: readonly string[], compiled?: Record<string, unknown>): Bundle {
  const agentDir = hostAgentDir()
  if (!existsSync(join(agentDir, AGENT_ENTRY))) throw new UserError(`${agentDir}/${AGENT_ENTRY} is missing; run "npm run build" first.`)
  const files: BundleFile[] = []
  // The agent as hosts get it (scripts/build.mjs: agent.mjs, its entry, agent-main.mjs and
  // liquid.mjs; not oclif, the YAML reader, the schemas). Its files only: the instructor's own
  // runs of it on Node.js 22+ leave a .compile-cache folder beside them, for this machine's node.
  for (const name of readdirSync(agentDir).sort()) {
    if (name.startsWith('.') || !statSync(join(agentDir, name)).isFile()) continue
    files.push({rel: name, data: readFileSync(join(agentDir, name)), mode: 0o644})
  }
  // Exactly the files the playbook uses, never its whole folder.
  const pbDir = dirname(resolve(playbookPath))
  const wanted = new Set([basename(playbookPath), ...playbookFiles.map((f) => posix.normalize(f))])
  for (const rel of [...wanted].sort()) files.push(playbookFile(pbDir, rel, rel === basename(playbookPath)))
  // The playbook compiled by the dry run, beside it: the hosts' agents load it without YAML parser or schemas.
  if (compiled) files.push({rel: compiledPath(join('playbooks', basename(playbookPath))), data: Buffer.from(JSON.stringify(compiled)), mode: 0o644})
  // Code-point order: the same hash on every instructor's machine (a collation follows the locale).
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
  const h = createHash('sha256')
  for (const f of files) h.update(f.rel).update('\0').update(createHash('sha256').update(f.data).digest()).update('\0')
  return {hash: h.digest('hex').slice(0, 16), files, playbookRel: join('playbooks', basename(playbookPath)), bytes: files.reduce((n, f) => n + f.data.length, 0)}
}

const tars = new WeakMap<Bundle, Map<string, Buffer>>()

/**
 * The bundle as one tar stream (POSIX ustar, file entries only), made once per
 * fleet run: one exec that unpacks it from stdin costs the host and fleet less
 * than an SFTP write per file (see BENCHMARKS.md). `gzip`: the same, compressed
 * once for every host (a quarter of the bytes; no per-host compression on either side).
 * `extra`: one more file in the same stream (the run's vars file, the same for every
 * host, where the upload and the start are one exec), made once per run as well.
 */
export function bundleTar(bundle: Bundle, gzip = false, extra?: ArchiveFile): Buffer {
  let made = tars.get(bundle)
  if (!made) tars.set(bundle, (made = new Map()))
  const key = `${gzip ? 'gz' : 'tar'}:${extra ? `${extra.rel}:${createHash('sha256').update(extra.data).digest('hex')}` : ''}`
  let out = made.get(key)
  if (!out) {
    const tar = ustar(extra ? [...bundle.files, extra] : bundle.files, {mtime: Math.floor(Date.now() / 1000)})
    made.set(key, (out = gzip ? gzipSync(tar, {level: 9}) : tar))
  }
  return out
}
