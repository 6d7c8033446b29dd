import type {z} from 'zod'
import {existsSync} from 'node:fs'
import {hostname} from 'node:os'
import {isAbsolute, join, resolve} from 'node:path'
import type {Place} from '../errors/user-error.js'
import type {JumpTarget, ParsedHost} from './fields.js'
import {checkValue, type Problem, type Sourced} from './problems.js'
import {Address, PortText, SafeName, UserName, type JumpSpec, type PrecedenceLevel, type Role, type Transport} from './schema.js'
import type {SshConfig} from './ssh-config.js'
import {parseJump} from './syntax.js'

/*
 * Precedence. For every value, the first source that has it wins:
 *
 *   1. hosts-file  the host's line (or, in an Ansible inventory, its variables)
 *   2. ssh-config  ~/.ssh/config (or the injected path), matched on the address
 *                  as written, OpenSSH's way (see ssh-config.ts)
 *   3. flags       --user, --port, --identity
 *   4. built-in    user "ubuntu", port 22; for identity files, OpenSSH's default
 *                  keys (~/.ssh/id_ed25519, id_ecdsa, id_rsa) that exist
 *
 * Per value:
 * - address: ssh config HostName, else the address as written (an alias with no
 *   HostName is taken as the address itself, as ssh does).
 * - identityFiles: the whole list comes from one level. Files named by the ssh
 *   config that do not exist are skipped like OpenSSH skips them; files named
 *   on the line or by a flag must be readable.
 * - jump: `jump=` on the line (`jump=none` for none), else ProxyJump. The jump
 *   host's own address, user and port are looked up in the ssh config too;
 *   its user then falls back to the flag/built-in user, its port to 22.
 * - name: `name=` on the line, else the address as written (the ssh config
 *   alias if one was used), with ":" of an IPv6 address written as "-" (and a
 *   zone's "%" as "s"), so that it is a safe folder name.
 * - role: `role=cache` on the line (`fleet_role` in an Ansible inventory) only.
 * - SSM hosts (transport=ssm) use no ssh config: their address is the
 *   instance id, and user/port are only the defaults, unused.
 */

export interface ResolvedDefaults {
  user: Sourced<string>
  port: Sourced<number>
  /** Already expanded and absolute. */
  identityFiles: Sourced<string>[]
}

export interface MergeContext {
  defaults: ResolvedDefaults
  sshConfig?: SshConfig
  home: string
  localUser: string
  /** Directory of the hosts file: relative identity paths on a line are relative to it. */
  hostsDir: string
  cwd: string
  env: NodeJS.ProcessEnv
}

export interface IdentityRef {
  path: string
  place: Place
  origin: PrecedenceLevel
}

/** A host with every value decided, before cross-host checks. */
export interface DraftHost {
  name: Sourced<string> & {derived: boolean}
  address: string
  port: number
  user: string
  identities: IdentityRef[]
  jump?: JumpSpec
  transport: Transport
  /** From the line (or the Ansible variables) only; checked across hosts in load.ts. */
  role?: Sourced<Role>
  source: {file: string; line: number}
  valid: boolean
}

const BUILT_IN_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa']

/** `~` and `~/...`; `~user` is not supported (a problem message is returned). */
export function expandTilde(path: string, home: string): {ok: true; value: string} | {ok: false; message: string} {
  if (path === '~') return {ok: true, value: home}
  if (path.startsWith('~/')) return {ok: true, value: join(home, path.slice(2))}
  if (path.startsWith('~')) {
    return {ok: false, message: `${JSON.stringify(path)}: "~user" paths are not supported; write the full path.`}
  }
  return {ok: true, value: path}
}

/** The default name for a host written as `target`. */
export function defaultName(target: string): string {
  return target.replace(/:/g, '-').replace(/%/g, 's')
}


export function mergeHost(parsed: ParsedHost, ctx: MergeContext, problems: Problem[]): DraftHost {
  const before = problems.length
  const push = (place: Place, message: string) => problems.push({...place, message})
  const {defaults} = ctx
  const alias = parsed.target.value
  const name = parsed.name
    ? {...parsed.name, derived: false}
    : {value: defaultName(alias), place: parsed.target.place, derived: true}
  if (name.derived) {
    const checked = checkValue(SafeName, name.value)
    if (!checked.ok) push(name.place, `${checked.message.slice(0, -1)}, as a name taken from the address; add a name= field.`)
  }
  const transport: Transport = parsed.transport?.value ?? 'ssh'

  if (transport === 'ssm') {
    const ssm: DraftHost = {
      name,
      address: alias,
      port: defaults.port.value,
      user: defaults.user.value,
      identities: [],
      transport,
      source: parsed.source,
      valid: parsed.valid,
    }
    if (parsed.role) ssm.role = parsed.role
    return ssm
  }

  const found = ctx.sshConfig?.lookup(alias, parsed.user?.value) ?? {identityFiles: []}

  let address = alias
  if (found.hostName) {
    const checked = checkValue(Address, found.hostName.value)
    if (checked.ok) address = found.hostName.value
    else push(found.hostName.place, checked.message)
  }

  // The line's value, else ~/.ssh/config's (checked like the line's), else the default.
  const configured = <S extends z.ZodType>(own: z.output<S> | undefined, fromConfig: Sourced<string> | undefined, schema: S): z.output<S> | undefined => {
    if (own !== undefined || !fromConfig) return own
    const checked = checkValue(schema, fromConfig.value)
    if (checked.ok) return checked.value
    push(fromConfig.place, checked.message)
    return undefined
  }
  const port = configured(parsed.port?.value, found.port, PortText) ?? defaults.port.value
  const user = configured(parsed.user?.value, found.user, UserName) ?? defaults.user.value

  // Jump host.
  let jumpTarget: Sourced<JumpTarget | null> | undefined = parsed.jump
  if (jumpTarget === undefined && found.proxyJump) {
    const jump = parseJump(found.proxyJump.value)
    for (const message of jump.messages) push(found.proxyJump.place, message)
    if (jump.value !== undefined) jumpTarget = {value: jump.value, place: found.proxyJump.place}
  }
  let jump: JumpSpec | undefined
  if (jumpTarget?.value) {
    const j = jumpTarget.value
    const jfound = ctx.sshConfig?.lookup(j.host, j.user) ?? {identityFiles: []}
    let jaddress = j.host
    if (jfound.hostName) {
      const checked = checkValue(Address, jfound.hostName.value)
      if (checked.ok) jaddress = jfound.hostName.value
      else push(jfound.hostName.place, checked.message)
    }
    let jport = j.port
    if (jport === undefined && jfound.port) {
      const checked = checkValue(PortText, jfound.port.value)
      if (checked.ok) jport = checked.value
      else push(jfound.port.place, checked.message)
    }
    let juser = j.user
    if (juser === undefined && jfound.user) {
      const checked = checkValue(UserName, jfound.user.value)
      if (checked.ok) juser = checked.value
      else push(jfound.user.place, checked.message)
    }
    const hop = jfound.proxyJump?.value
    if (hop !== undefined && hop !== 'none' && parseJump(hop).value?.host !== j.host) {
      push(
        jumpTarget.place,
        `the jump host ${JSON.stringify(j.host)} has its own ProxyJump (${jfound.proxyJump!.place.file}:${jfound.proxyJump!.place.line}); fleet supports one jump host.`,
      )
    }
    jump = {address: jaddress, port: jport ?? 22, user: juser ?? defaults.user.value}
  }

  // Identity files: one level supplies the whole list.
  const identities: IdentityRef[] = []
  for (const id of parsed.identityFiles) {
    const expanded = expandTilde(id.value, ctx.home)
    if (!expanded.ok) push(id.place, expanded.message)
    else identities.push({path: resolve(ctx.hostsDir, expanded.value), place: id.place, origin: 'hosts-file'})
  }
  if (parsed.identityFiles.length === 0) {
    for (const id of found.identityFiles) {
      const tokens = expandTokens(id.value, {
        home: ctx.home,
        localUser: ctx.localUser,
        host: address,
        alias,
        port,
        user,
        jump: jumpTarget?.value ? formatJump(jumpTarget.value) : '',
        env: ctx.env,
      })
      if (!tokens.ok) {
        push(id.place, tokens.message)
        continue
      }
      const expanded = expandTilde(tokens.value, ctx.home)
      if (!expanded.ok) {
        push(id.place, expanded.message)
        continue
      }
      const path = isAbsolute(expanded.value) ? expanded.value : resolve(ctx.cwd, expanded.value)
      // OpenSSH skips IdentityFile entries that do not exist.
      if (existsSync(path)) identities.push({path, place: id.place, origin: 'ssh-config'})
    }
    if (identities.length === 0) {
      for (const id of defaults.identityFiles) identities.push({path: id.value, place: id.place, origin: 'flags'})
    }
    if (identities.length === 0) {
      for (const key of BUILT_IN_KEYS) {
        const path = join(ctx.home, '.ssh', key)
        if (existsSync(path)) identities.push({path, place: {file: path}, origin: 'built-in'})
      }
    }
  }

  const draft: DraftHost = {
    name,
    address,
    port,
    user,
    identities,
    transport,
    source: parsed.source,
    valid: parsed.valid && problems.length === before,
  }
  if (jump) draft.jump = jump
  if (parsed.role) draft.role = parsed.role
  return draft
}

function formatJump(j: JumpTarget): string {
  return `${j.user ? `${j.user}@` : ''}${j.host}${j.port ? `:${j.port}` : ''}`
}

interface TokenValues {
  home: string
  localUser: string
  host: string
  alias: string
  port: number
  user: string
  jump: string
  env: NodeJS.ProcessEnv
}

/** IdentityFile's %-tokens and ${VAR} (ssh_config(5) TOKENS / ENVIRONMENT VARIABLES). */
export function expandTokens(text: string, v: TokenValues): {ok: true; value: string} | {ok: false; message: string} {
  let problem: string | undefined
  const value = text
    .replace(/%(.?)/g, (token, c: string) => {
      switch (c) {
        case '%':
          return '%'
        case 'd':
          return v.home
        case 'u':
          return v.localUser
        case 'h':
          return v.host
        case 'n':
        case 'k':
          return v.alias
        case 'p':
          return String(v.port)
        case 'r':
          return v.user
        case 'j':
          return v.jump
        case 'l':
          return hostname()
        case 'L':
          return hostname().split('.')[0]!
        case 'i':
          return String(process.getuid?.() ?? '')
        default:
          problem ??= `${JSON.stringify(text)}: the token ${JSON.stringify(token)} is not supported by fleet.`
          return token
      }
    })
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_all, name: string) => {
      const val = v.env[name]
      if (val === undefined) problem ??= `${JSON.stringify(text)}: the environment variable ${name} is not set.`
      return val ?? ''
    })
  return problem ? {ok: false, message: problem} : {ok: true, value}
}
