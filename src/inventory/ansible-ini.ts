import type {Place} from '../errors/user-error.js'
import {buildHost, type FieldKey, type ParsedHost, type RawField} from './fields.js'
import type {Problem, Sourced} from './problems.js'
import {InstanceId} from './schema.js'
import {splitHostPort, tokenize} from './syntax.js'

/*
 * A reasonable subset of Ansible's INI inventory:
 *
 *   [group]                 hosts: `alias [ansible_var=value ...]`, or `address[:port] ...`
 *   [group:vars]            `ansible_var=value`, for the group's hosts and its children's
 *   [group:children]        one group name per line
 *
 * Hosts before any header are "ungrouped"; `[all:vars]` applies to every host.
 * A host listed in several groups is one host (its first line is its source).
 * Variables apply like Ansible does: all, then groups by depth (parents before
 * children, ties by name), then the host's own line; later wins.
 *
 * Understood: ansible_host, ansible_port, ansible_user,
 * ansible_ssh_private_key_file, ansible_connection (ssh/smart/paramiko or
 * aws_ssm), a ProxyJump in ansible_ssh_common_args / ansible_ssh_extra_args,
 * and the old ansible_ssh_host/_port/_user spellings; and fleet's own
 * fleet_role=cache (the native role=cache: this host becomes the room cache).
 * Variables that do not change how to reach a host (become, python
 * interpreter, ...) and non-Ansible variables are ignored, the latter with a
 * warning. Anything else that would
 * change how to reach a host (host ranges, passwords, other connection plugins,
 * other ssh arguments, unknown section types) is a problem with its line.
 */

const VAR_TO_FIELD: Record<string, FieldKey | 'address' | 'connection' | 'ssh-args'> = {
  ansible_host: 'address',
  ansible_ssh_host: 'address',
  ansible_port: 'port',
  ansible_ssh_port: 'port',
  ansible_user: 'user',
  ansible_ssh_user: 'user',
  ansible_ssh_private_key_file: 'identity',
  ansible_private_key_file: 'identity',
  ansible_connection: 'connection',
  ansible_ssh_common_args: 'ssh-args',
  ansible_ssh_extra_args: 'ssh-args',
  fleet_role: 'role',
}

/** Ansible variables that do not change how fleet reaches a host. */
const IGNORED_VARS = new Set([
  'ansible_python_interpreter',
  'ansible_become',
  'ansible_become_user',
  'ansible_become_method',
  'ansible_become_flags',
  'ansible_become_exe',
  'ansible_shell_type',
  'ansible_shell_executable',
  'ansible_pipelining',
  'ansible_ssh_pipelining',
  'ansible_host_key_checking',
  'ansible_ssh_retries',
  'ansible_timeout',
  'ansible_aws_ssm_bucket_name',
])

const SSH_ONLY = new Set<string>(['port', 'user', 'identity', 'ssh-args'])
const SSH_CONNECTIONS = new Set(['ssh', 'smart', 'paramiko', 'paramiko_ssh', 'ansible.builtin.ssh'])
const SSM_CONNECTIONS = new Set(['aws_ssm', 'community.aws.aws_ssm', 'amazon.aws.aws_ssm'])

const GROUP_NAME = /^[A-Za-z0-9_.-]+$/

interface Group {
  /** Line of the first header naming it (any kind), for warnings. */
  line: number
  hasHosts: boolean
  vars: Map<string, Sourced<string>>
  children: Set<string>
  childLines: Map<string, number>
}

interface InventoryHost {
  pattern: string
  line: number
  groups: Set<string>
  vars: Map<string, Sourced<string>>
}

/** A header line `[name]`, `[name:vars]` or `[name:children]`, or undefined. */
export function sectionHeader(trimmed: string): string | undefined {
  const m = /^\[([^\]]*)\]\s*(?:[#;].*)?$/.exec(trimmed)
  return m ? m[1] : undefined
}

export function parseAnsibleIni(
  lines: string[],
  file: string,
): {hosts: ParsedHost[]; problems: Problem[]; warnings: string[]} {
  const problems: Problem[] = []
  const warnings: string[] = []
  const groups = new Map<string, Group>()
  const hosts = new Map<string, InventoryHost>()
  const group = (name: string, line: number): Group => {
    let g = groups.get(name)
    if (!g) {
      g = {line, hasHosts: false, vars: new Map(), children: new Set(), childLines: new Map()}
      groups.set(name, g)
    }
    return g
  }
  group('all', 0)
  let section: {kind: 'hosts' | 'vars' | 'children'; group: string} = {kind: 'hosts', group: 'ungrouped'}
  let sectionOk = true

  lines.forEach((text, index) => {
    const line = index + 1
    const trimmed = text.trim()
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return

    if (trimmed.startsWith('[')) {
      const header = sectionHeader(trimmed)
      sectionOk = false
      if (header === undefined) {
        problems.push({file, line, message: `${JSON.stringify(trimmed)} is not a section header ([group], [group:vars] or [group:children]).`})
        return
      }
      const colon = header.lastIndexOf(':')
      const name = colon >= 0 ? header.slice(0, colon) : header
      const suffix = colon >= 0 ? header.slice(colon + 1) : undefined
      if (!GROUP_NAME.test(name)) {
        problems.push({file, line, message: `${JSON.stringify(name)} is not a group name (letters, digits, "_", "-", ".").`})
        return
      }
      if (suffix !== undefined && suffix !== 'vars' && suffix !== 'children') {
        problems.push({file, line, message: `section type ":${suffix}" in [${header}] is not supported (only :vars and :children).`})
        return
      }
      group(name, line)
      section = {kind: suffix ?? 'hosts', group: name}
      sectionOk = true
      return
    }
    // Lines under a broken header are not reported again: the header already was.
    if (!sectionOk) return

    if (section.kind === 'children') {
      const words = tokenize(trimmed)
      if (!words.ok || words.tokens.length !== 1 || !GROUP_NAME.test(words.tokens[0]!)) {
        problems.push({file, line, message: `${JSON.stringify(trimmed)} is not a group name; [${section.group}:children] lists one group per line.`})
        return
      }
      const child = words.tokens[0]!
      group(child, line)
      const parent = group(section.group, line)
      parent.children.add(child)
      parent.childLines.set(child, line)
      return
    }

    if (section.kind === 'vars') {
      const eq = trimmed.indexOf('=')
      if (eq <= 0) {
        problems.push({file, line, message: `${JSON.stringify(trimmed)} is not a variable (NAME=VALUE) for [${section.group}:vars].`})
        return
      }
      const name = trimmed.slice(0, eq).trim()
      const value = varValue(trimmed.slice(eq + 1))
      if (!value.ok) {
        problems.push({file, line, field: name, message: value.message})
        return
      }
      group(section.group, line).vars.set(name, {value: value.value, place: {file, line, field: name}})
      return
    }

    // A host line.
    const words = tokenize(trimmed)
    if (!words.ok) {
      problems.push({file, line, message: words.message})
      return
    }
    const [pattern, ...rest] = words.tokens as [string, ...string[]]
    if (/\[[^\]]*:[^\]]*\]/.test(pattern) && !pattern.startsWith('[')) {
      problems.push({file, line, message: `${JSON.stringify(pattern)} is a host range, which fleet does not expand; list the hosts one per line.`})
      return
    }
    if (pattern.includes('=')) {
      problems.push({file, line, message: `the line starts with a variable (${JSON.stringify(pattern)}); write the host first.`})
      return
    }
    if (pattern.includes('@')) {
      problems.push({file, line, message: `${JSON.stringify(pattern)}: an Ansible inventory gives the user with ansible_user=, not USER@.`})
      return
    }
    let host = hosts.get(pattern)
    if (!host) {
      host = {pattern, line, groups: new Set(), vars: new Map()}
      hosts.set(pattern, host)
    }
    host.groups.add(section.group)
    group(section.group, line).hasHosts = true
    const seenHere = new Set<string>()
    for (const word of rest) {
      const eq = word.indexOf('=')
      if (eq <= 0) {
        problems.push({file, line, message: `${JSON.stringify(word)} is not a variable (NAME=VALUE).`})
        continue
      }
      const name = word.slice(0, eq)
      if (seenHere.has(name)) {
        problems.push({file, line, field: name, message: 'is given twice; give it once.'})
        continue
      }
      seenHere.add(name)
      host.vars.set(name, {value: word.slice(eq + 1), place: {file, line, field: name}})
    }
  })

  // Group tree: parents, cycles, depth.
  const parents = new Map<string, Set<string>>()
  for (const [name, g] of groups) {
    for (const child of g.children) {
      if (child === 'all') {
        problems.push({file, line: g.childLines.get(child)!, message: `group "all" cannot be a child of [${name}:children].`})
        continue
      }
      let set = parents.get(child)
      if (!set) parents.set(child, (set = new Set()))
      set.add(name)
    }
  }
  const depthOf = new Map<string, number>()
  const inCycle = new Set<string>()
  const depth = (name: string, path: string[]): number => {
    if (name === 'all') return 0
    const known = depthOf.get(name)
    if (known !== undefined) return known
    if (path.includes(name)) {
      if (!inCycle.has(name)) {
        inCycle.add(name)
        const parent = path[path.length - 1]!
        const line = groups.get(name)?.childLines.get(parent) ?? groups.get(parent)?.childLines.get(name) ?? groups.get(name)!.line
        const chain = [...path.slice(path.indexOf(name)), name]
        const told = chain.slice(1).map((g) => `a child of ${g}`).join(', which is ')
        problems.push({file, line, message: `the :children sections form a cycle: ${chain[0]} is ${told}.`})
      }
      return 1
    }
    let d = 1
    for (const p of parents.get(name) ?? []) d = Math.max(d, depth(p, [...path, name]) + 1)
    depthOf.set(name, d)
    return d
  }
  for (const name of groups.keys()) depth(name, [])

  for (const [name, g] of groups) {
    if (name === 'all' || name === 'ungrouped' || g.hasHosts || g.children.size > 0) continue
    if (g.vars.size > 0 || (parents.get(name)?.size ?? 0) > 0) {
      warnings.push(`${file}:${g.line}: group "${name}" has no hosts.`)
    }
  }

  const ancestors = (name: string, into: Set<string>) => {
    if (into.has(name)) return
    into.add(name)
    for (const p of parents.get(name) ?? []) ancestors(p, into)
  }
  const ignoredUserVars = new Set<string>()
  const result: ParsedHost[] = []
  for (const host of hosts.values()) {
    const all = new Set<string>(['all'])
    for (const g of host.groups) ancestors(g, all)
    const ordered = [...all].sort((a, b) => (depthOf.get(a) ?? 0) - (depthOf.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0))
    const vars = new Map<string, Sourced<string>>()
    for (const g of ordered) for (const [k, v] of groups.get(g)?.vars ?? []) vars.set(k, v)
    for (const [k, v] of host.vars) vars.set(k, v)
    const built = hostFromVars(host, vars, file, problems, ignoredUserVars)
    if (built) result.push(built)
  }
  if (ignoredUserVars.size > 0) {
    warnings.push(`${file}: variables ${[...ignoredUserVars].sort().join(', ')} are not used by fleet and were ignored.`)
  }
  return {hosts: result, problems, warnings}
}

function hostFromVars(
  host: InventoryHost,
  vars: Map<string, Sourced<string>>,
  file: string,
  problems: Problem[],
  ignoredUserVars: Set<string>,
): ParsedHost | undefined {
  const before = problems.length
  const fields: RawField[] = []
  const byField = new Map<string, Place>()
  let address: Sourced<string> | undefined
  const claim = (kind: string, place: Place): boolean => {
    const other = byField.get(kind)
    if (other) {
      problems.push({...place, message: `sets the same thing as ${other.field}; keep one.`})
      return false
    }
    byField.set(kind, place)
    return true
  }
  // An SSM host ignores the ssh settings it inherits from groups (a mixed room
  // may set ansible_user in [all:vars]); on its own line they are still refused.
  const connection = vars.get('ansible_connection')?.value
  const addressVar = vars.get('ansible_host') ?? vars.get('ansible_ssh_host')
  const isSsm =
    (connection !== undefined && SSM_CONNECTIONS.has(connection)) ||
    (connection === undefined && InstanceId.safeParse(addressVar?.value ?? host.pattern).success)
  for (const [name, sourced] of vars) {
    const {value, place} = sourced
    const kind = VAR_TO_FIELD[name]
    if (isSsm && host.vars.get(name) !== sourced && kind && SSH_ONLY.has(kind)) continue
    if (kind === undefined) {
      if (IGNORED_VARS.has(name)) continue
      if (name.startsWith('ansible_')) {
        problems.push({...place, message: 'is not supported by fleet.'})
      } else {
        ignoredUserVars.add(name)
      }
      continue
    }
    if (!claim(kind, place)) continue
    switch (kind) {
      case 'address':
        address = {value, place}
        break
      case 'connection':
        if (SSM_CONNECTIONS.has(value)) fields.push({key: 'transport', raw: 'ssm', place})
        else if (SSH_CONNECTIONS.has(value)) fields.push({key: 'transport', raw: 'ssh', place})
        else problems.push({...place, message: `${JSON.stringify(value)} is not supported by fleet (ssh or aws_ssm).`})
        break
      case 'ssh-args': {
        const jump = proxyJumpFromArgs(value)
        if (!jump.ok) problems.push({...place, message: jump.message})
        else if (jump.value !== undefined && claim('jump', place)) fields.push({key: 'jump', raw: jump.value, place})
        break
      }
      default:
        fields.push({key: kind, raw: value, place})
    }
  }

  const source = {file, line: host.line}
  const hostPlace: Place = {file, line: host.line}
  let targetText = host.pattern
  let targetPlace = hostPlace
  if (address) {
    // The inventory hostname is then a name (and maybe `:port`), the address comes from ansible_host.
    const split = splitHostPort(host.pattern)
    if (!split.ok) {
      problems.push({...hostPlace, message: split.message})
      return undefined
    }
    if (split.value.port !== undefined) fields.push({key: 'port', raw: split.value.port, place: hostPlace})
    fields.push({key: 'name', raw: split.value.host, place: hostPlace})
    const inner = splitHostPort(address.value)
    if (address.value.includes('@') || (inner.ok && inner.value.port !== undefined)) {
      problems.push({...address.place, message: `${JSON.stringify(address.value)} must be an address only (use ansible_user and ansible_port).`})
      return undefined
    }
    targetText = address.value
    targetPlace = address.place
  }
  const built = buildHost(source, {text: targetText, place: targetPlace}, fields, problems)
  if (built && problems.length !== before) built.valid = false
  return built
}

/** A var value in a :vars section: trailing ` # comment` dropped, one level of quotes removed. */
function varValue(text: string): {ok: true; value: string} | {ok: false; message: string} {
  const t = text.trim()
  const q = t[0]
  if (q === '"' || q === "'") {
    const end = t.indexOf(q, 1)
    if (end < 0) return {ok: false, message: `a ${q === '"' ? 'double' : 'single'} quote is not closed.`}
    const after = t.slice(end + 1).trim()
    if (after !== '' && !after.startsWith('#')) return {ok: false, message: `has text after the closing quote.`}
    return {ok: true, value: t.slice(1, end)}
  }
  const comment = /\s#/.exec(t)
  return {ok: true, value: (comment ? t.slice(0, comment.index) : t).trim()}
}

/**
 * The one thing fleet takes from ansible_ssh_*_args: a jump host, as `-J HOST`,
 * `-o ProxyJump=HOST` or `-o "ProxyJump HOST"`. Anything else is refused.
 */
function proxyJumpFromArgs(value: string): {ok: true; value?: string} | {ok: false; message: string} {
  const words = tokenize(value)
  if (!words.ok) return words
  const args = words.tokens
  let jump: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    let found: string | undefined
    if (arg === '-J' && i + 1 < args.length) found = args[++i]
    else if (arg.startsWith('-J') && arg.length > 2) found = arg.slice(2)
    else {
      let option: string | undefined
      if (arg === '-o' && i + 1 < args.length) option = args[++i]
      else if (arg.startsWith('-o') && arg.length > 2) option = arg.slice(2)
      const m = option === undefined ? null : /^ProxyJump(?:\s*=\s*|\s+)(\S+)$/i.exec(option)
      if (m) found = m[1]
      else {
        return {ok: false, message: `${JSON.stringify(option ?? arg)} is not supported by fleet; only a jump host (-J HOST or -o ProxyJump=HOST) is.`}
      }
    }
    if (jump !== undefined) return {ok: false, message: 'gives two jump hosts; fleet supports one.'}
    jump = found
  }
  return {ok: true, value: jump}
}
