import {closeSync, existsSync, fstatSync, openSync, readFileSync} from 'node:fs'
import {homedir, userInfo} from 'node:os'
import {dirname, isAbsolute, join, resolve} from 'node:path'
import {UserError, type Place} from '../errors/user-error.js'
import {expandTilde, mergeHost, type DraftHost, type MergeContext, type ResolvedDefaults} from './merge.js'
import {parseHostsText} from './parse.js'
import {checkValue, InventoryError, orderProblems, type Problem, type Sourced} from './problems.js'
import {HostSpec, Inventory, Port, PRECEDENCE, UserName} from './schema.js'
import {describeFsError, SshConfig} from './ssh-config.js'

/** The fallbacks a command passes from its flags (`--user`, `--port`, `--identity`). */
export interface InventoryDefaults {
  /** Default "ubuntu". */
  user?: string
  /** Default 22. */
  port?: number
  /** Relative paths are relative to `cwd`; `~` is expanded. */
  identity?: string | readonly string[]
}

export interface LoadInventoryOptions {
  defaults?: InventoryDefaults
  /**
   * The ssh config to merge. Omitted: `~/.ssh/config` if it exists. A path: that
   * file, which must be readable. `null`: no ssh config at all.
   */
  sshConfigPath?: string | null
  /** Where HOME, USER and SSH_AUTH_SOCK are read; default process.env. */
  env?: NodeJS.ProcessEnv
  /** For relative paths given by flags; default process.cwd(). */
  cwd?: string
}

/**
 * Read, check and resolve a hosts file (native or Ansible INI), merged with
 * the ssh config and the flag defaults (precedence: see merge.ts and
 * Inventory.precedence). Contacts no host and does no DNS lookup.
 *
 * @throws InventoryError (a UserError) listing every problem, one sentence
 *   each, `FILE:LINE: field "F": ...`; or a UserError naming the hosts file
 *   when it cannot be read at all.
 */
export function loadInventory(path: string, options: LoadInventoryOptions = {}): Inventory {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const home = env.HOME || homedir()
  const localUser = env.USER || env.LOGNAME || safeUserName()

  let text: string
  try {
    text = readFileSync(resolve(cwd, path), 'utf8')
  } catch (error) {
    throw new UserError(`Cannot read the hosts file ${JSON.stringify(path)}: ${describeFsError(error)}.`)
  }

  const parsed = parseHostsText(text, path)
  const problems: Problem[] = [...parsed.problems]
  const warnings: string[] = [...parsed.warnings]

  const defaults = resolveDefaults(options.defaults ?? {}, home, cwd, problems)

  let sshConfig: SshConfig | undefined
  let sshConfigPath = options.sshConfigPath === undefined ? join(home, '.ssh', 'config') : options.sshConfigPath
  if (options.sshConfigPath === undefined && sshConfigPath !== null && !existsSync(sshConfigPath)) sshConfigPath = null
  if (sshConfigPath !== null) {
    sshConfigPath = resolve(cwd, sshConfigPath)
    sshConfig = new SshConfig(sshConfigPath, home, localUser)
  }

  const ctx: MergeContext = {
    defaults,
    home,
    localUser,
    hostsDir: dirname(resolve(cwd, path)),
    cwd,
    env,
  }
  if (sshConfig) ctx.sshConfig = sshConfig
  const drafts = parsed.hosts.map((host) => mergeHost(host, ctx, problems))
  if (sshConfig) {
    problems.push(...sshConfig.problems)
    warnings.push(...sshConfig.warnings)
  }

  checkDuplicates(drafts, problems)
  checkCacheHost(drafts, problems)
  checkIdentities(drafts, problems)

  if (parsed.hosts.length === 0 && problems.length === 0) {
    problems.push({file: path, message: 'the file lists no hosts.'})
  }
  if (problems.length > 0) throw new InventoryError(orderProblems(problems, path))

  const hosts = drafts.map((d) => {
    const spec: HostSpec = {
      name: d.name.value,
      address: d.address,
      port: d.port,
      user: d.user,
      identityFiles: d.identities.map((i) => i.path),
      transport: d.transport,
      source: d.source,
    }
    if (d.jump) spec.jump = d.jump
    if (d.role) spec.role = d.role.value
    return HostSpec.parse(spec)
  })
  const inventory: Inventory = {
    file: path,
    format: parsed.format,
    hosts,
    useAgent: Boolean(env.SSH_AUTH_SOCK),
    sshConfigPath: sshConfig ? sshConfig.path : null,
    precedence: [...PRECEDENCE],
    warnings,
  }
  if (env.SSH_AUTH_SOCK) inventory.agentSocket = env.SSH_AUTH_SOCK
  return Inventory.parse(inventory)
}

function safeUserName(): string {
  try {
    return userInfo().username
  } catch {
    return ''
  }
}


function resolveDefaults(d: InventoryDefaults, home: string, cwd: string, problems: Problem[]): ResolvedDefaults {
  const builtIn: Place = {file: 'built-in default'}
  let user: Sourced<string> = {value: 'ubuntu', place: builtIn}
  if (d.user !== undefined) {
    const checked = checkValue(UserName, d.user)
    if (checked.ok) user = {value: checked.value, place: {file: '--user'}}
    else problems.push({file: '--user', message: checked.message})
  }
  let port: Sourced<number> = {value: 22, place: builtIn}
  if (d.port !== undefined) {
    if (Port.safeParse(d.port).success) port = {value: d.port, place: {file: '--port'}}
    else problems.push({file: '--port', message: `${JSON.stringify(String(d.port))} is not a port (1-65535).`})
  }
  const identityFiles: Sourced<string>[] = []
  const list = d.identity === undefined ? [] : typeof d.identity === 'string' ? [d.identity] : d.identity
  for (const raw of list) {
    const place = {file: '--identity'}
    const expanded = expandTilde(raw, home)
    if (!expanded.ok) problems.push({...place, message: expanded.message})
    else identityFiles.push({value: isAbsolute(expanded.value) ? expanded.value : resolve(cwd, expanded.value), place})
  }
  return {user, port, identityFiles}
}

function checkDuplicates(drafts: DraftHost[], problems: Problem[]): void {
  const byAddress = new Map<string, DraftHost>()
  const byName = new Map<string, DraftHost>()
  for (const d of drafts) {
    if (!d.valid) continue
    const key =
      d.transport === 'ssm'
        ? `ssm ${d.address}`
        : `${d.jump ? `${normalizeAddress(d.jump.address)}:${d.jump.port} > ` : ''}${normalizeAddress(d.address)}:${d.port}`
    const first = byAddress.get(key)
    if (first) {
      const what = d.transport === 'ssm' ? `instance ${d.address}` : `${d.address} port ${d.port}${d.jump ? ` via ${d.jump.address}` : ''}`
      problems.push({file: d.source.file, line: d.source.line, message: `${what} is already listed on line ${first.source.line}.`})
      continue
    }
    byAddress.set(key, d)
    const nameKey = d.name.value.toLowerCase()
    const named = byName.get(nameKey)
    if (named) {
      const message = d.name.derived
        ? `the name ${JSON.stringify(d.name.value)} (from the address) is already used by line ${named.source.line}; give one of them a name= field.`
        : `the name ${JSON.stringify(d.name.value)} is already used by line ${named.source.line}.`
      problems.push({...d.name.place, line: d.source.line, message})
      continue
    }
    byName.set(nameKey, d)
  }
}

/** The room has at most one cache host: every further one is a problem at its own line. */
function checkCacheHost(drafts: DraftHost[], problems: Problem[]): void {
  let first: DraftHost | undefined
  for (const d of drafts) {
    if (!d.valid || d.role?.value !== 'cache') continue
    if (!first) {
      first = d
      continue
    }
    const written = `${d.role.place.field ?? 'role'}=cache`
    problems.push({
      ...d.role.place,
      file: d.source.file,
      line: d.source.line,
      message: `a second cache host (${written}); the room has one, at ${first.source.file}:${first.source.line}.`,
    })
  }
}

/** Lower-case, and IPv6 in its canonical short form, so that spellings of one address compare equal. */
function normalizeAddress(address: string): string {
  if (address.includes(':')) {
    try {
      return new URL(`http://[${address}]/`).hostname.slice(1, -1)
    } catch {
      return address.toLowerCase()
    }
  }
  return address.toLowerCase().replace(/\.$/, '')
}

function checkIdentities(drafts: DraftHost[], problems: Problem[]): void {
  const results = new Map<string, string | undefined>()
  for (const d of drafts) {
    for (const id of d.identities) {
      if (!results.has(id.path)) results.set(id.path, unreadable(id.path))
      const reason = results.get(id.path)
      if (reason === undefined) continue
      const place = id.origin === 'hosts-file' && !id.place.field ? {...id.place, field: 'identity'} : id.place
      problems.push({...place, message: `cannot read the identity file ${JSON.stringify(id.path)}: ${reason}.`})
    }
  }
}

/** Why a file cannot be read as a key, or undefined when it can. */
function unreadable(path: string): string | undefined {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    if (!fstatSync(fd).isFile()) return 'it is not a regular file'
    return undefined
  } catch (error) {
    return describeFsError(error)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
