import {readdirSync, readFileSync, statSync} from 'node:fs'
import {isAbsolute, join} from 'node:path'
import type {Place} from '../errors/user-error.js'
import type {Problem, Sourced} from './problems.js'

/*
 * Just enough of OpenSSH's client config reading (ssh_config(5), readconf.c)
 * to know, for one host alias, its HostName, User, Port, IdentityFile and
 * ProxyJump:
 *
 * - Keywords are case-insensitive; `Keyword value` or `Keyword=value`;
 *   arguments may be quoted; `#` starts a comment.
 * - Directives before the first Host/Match apply to every host. `Host`
 *   patterns (`*`, `?`, `!negation`) are matched, case-insensitively, against
 *   the alias as written; `Match` understands all, host, originalhost, user
 *   and localuser (with `!`). Other Match criteria (exec, canonical, final,
 *   tagged, ...) are not evaluated: such a block is not applied and a warning
 *   says so. fleet never runs commands from the ssh config.
 * - For each keyword the first obtained value wins; IdentityFile accumulates.
 * - `Include` (with `*`/`?` globs, relative to ~/.ssh) is followed where it
 *   appears, only inside an applying block, like OpenSSH does.
 * - HostName expands %h and %%. IdentityFile tokens are expanded by the caller,
 *   which knows the final user and port.
 *
 * Not read: /etc/ssh/ssh_config, CanonicalizeHostname, ProxyCommand.
 */

export interface SshConfigLine {
  /** Lower-cased keyword. */
  keyword: string
  /** The keyword as written, for messages. */
  spelled: string
  args: string[]
  place: Place
}

export interface SshLookup {
  hostName?: Sourced<string>
  user?: Sourced<string>
  port?: Sourced<string>
  proxyJump?: Sourced<string>
  identityFiles: Sourced<string>[]
}

const MAX_INCLUDE_DEPTH = 16
const KEYWORDS_USED = new Set(['hostname', 'user', 'port', 'proxyjump', 'identityfile'])

/** Split an ssh_config line into keyword and arguments (readconf.c's rules, simplified). */
export function splitConfigLine(text: string): {keyword: string; spelled: string; args: string[]} | {error: string} | undefined {
  const s = text.replace(/^\s+/, '')
  if (s === '' || s.startsWith('#')) return undefined
  const m = /^([^\s=]+)\s*(?:=\s*)?(.*)$/.exec(s)
  if (!m) return {error: 'cannot be read.'}
  const keyword = m[1]!
  const rest = m[2]!
  const args: string[] = []
  let i = 0
  while (i < rest.length) {
    while (i < rest.length && /\s/.test(rest[i]!)) i++
    if (i >= rest.length) break
    if (rest[i] === '#') break
    let arg = ''
    while (i < rest.length && !/\s/.test(rest[i]!)) {
      const c = rest[i]!
      if (c === '"' || c === "'") {
        const end = rest.indexOf(c, i + 1)
        if (end < 0) return {error: `has a ${c === '"' ? 'double' : 'single'} quote that is not closed.`}
        arg += rest.slice(i + 1, end)
        i = end + 1
      } else if (c === '\\' && i + 1 < rest.length) {
        arg += rest[i + 1]
        i += 2
      } else {
        arg += c
        i++
      }
    }
    args.push(arg)
  }
  return {keyword: keyword.toLowerCase(), spelled: keyword, args}
}

/** OpenSSH's match_pattern: `*` any run, `?` exactly one character. Case-insensitive here. */
export function matchPattern(pattern: string, text: string): boolean {
  const re = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${re}$`, 's').test(text.toLowerCase())
}

/** A pattern list: a negated match rules out, otherwise any positive match is enough. */
export function matchPatternList(patterns: string[], text: string): boolean {
  let matched = false
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchPattern(p.slice(1), text)) return false
    } else if (matchPattern(p, text)) {
      matched = true
    }
  }
  return matched
}

/** Expand `*` and `?` in each path segment, like glob(3) without GLOB_NOCHECK: no match, no path. */
function globPaths(pattern: string): string[] {
  const segments = pattern.split('/')
  let bases = [segments[0] === '' ? '/' : segments[0]!]
  for (const segment of segments.slice(1)) {
    if (segment === '') continue
    const next: string[] = []
    for (const base of bases) {
      if (!/[*?]/.test(segment)) {
        next.push(join(base, segment))
        continue
      }
      let names: string[]
      try {
        names = readdirSync(base).sort()
      } catch {
        continue
      }
      for (const name of names) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue
        // glob(3) is case-sensitive.
        const re = new RegExp(`^${segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's')
        if (re.test(name)) next.push(join(base, name))
      }
    }
    bases = next
  }
  return bases.filter((p) => {
    try {
      statSync(p)
      return true
    } catch {
      return false
    }
  })
}

export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case 'ENOENT':
      return 'no such file'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EISDIR':
      return 'it is a directory'
    case 'ENOTDIR':
      return 'a part of the path is not a directory'
    default:
      return (error as Error | undefined)?.message ?? String(error)
  }
}

export class SshConfig {
  readonly problems: Problem[] = []
  readonly warnings: string[] = []
  private readonly files = new Map<string, SshConfigLine[] | undefined>()
  private readonly warned = new Set<string>()

  /**
   * @param path the ssh config file (ssh -F); it must be readable.
   * @param home for `~` and relative Include paths (~/.ssh).
   * @param localUser for Match localuser, and Match user when no user is known.
   */
  constructor(
    readonly path: string,
    private readonly home: string,
    private readonly localUser: string,
  ) {
    this.read(path)
  }

  /** Whether the file itself could be read (problems says why not). */
  get readable(): boolean {
    return this.files.get(this.path) !== undefined
  }

  private read(path: string, from?: Place): SshConfigLine[] | undefined {
    if (this.files.has(path)) return this.files.get(path)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (error) {
      this.files.set(path, undefined)
      this.problems.push(
        from
          ? {...from, message: `cannot read the included file ${JSON.stringify(path)}: ${describeFsError(error)}.`}
          : {file: path, message: `cannot read this ssh config: ${describeFsError(error)}.`},
      )
      return undefined
    }
    const lines: SshConfigLine[] = []
    text.split(/\r?\n/).forEach((raw, index) => {
      const place = {file: path, line: index + 1}
      const split = splitConfigLine(raw)
      if (split === undefined) return
      if ('error' in split) {
        this.problems.push({...place, message: `this line ${split.error}`})
        return
      }
      if ((split.keyword === 'host' || split.keyword === 'match') && split.args.length === 0) {
        this.problems.push({...place, message: `${split.keyword === 'host' ? 'Host' : 'Match'} has no argument.`})
      }
      lines.push({keyword: split.keyword, spelled: split.spelled, args: split.args, place})
    })
    this.files.set(path, lines)
    return lines
  }

  private warnOnce(place: Place, message: string): void {
    const text = `${place.file}:${place.line}: ${message}`
    if (this.warned.has(text)) return
    this.warned.add(text)
    this.warnings.push(text)
  }

  /**
   * What the config says for `alias` (the host as written). `user` is a user
   * already decided (for Match user), e.g. given on the hosts-file line.
   */
  lookup(alias: string, user?: string): SshLookup {
    const result: SshLookup = {identityFiles: []}
    const state = {hostName: alias, user}
    const apply = (line: SshConfigLine) => {
      if (!KEYWORDS_USED.has(line.keyword)) return
      const value = line.args[0]
      if (value === undefined) return
      const sourced = {value, place: {...line.place, field: line.spelled}}
      switch (line.keyword) {
        case 'identityfile':
          if (value.toLowerCase() !== 'none') result.identityFiles.push(sourced)
          break
        case 'hostname':
          if (!result.hostName) {
            const expanded = value.replace(/%(.)/g, (token, c: string) => (c === 'h' ? alias : c === '%' ? '%' : token))
            result.hostName = {value: expanded, place: sourced.place}
            state.hostName = expanded
          }
          break
        case 'user':
          if (!result.user) {
            result.user = sourced
            state.user ??= value
          }
          break
        case 'port':
          result.port ??= sourced
          break
        case 'proxyjump':
          result.proxyJump ??= sourced
          break
      }
    }
    const walk = (lines: SshConfigLine[], active: boolean, depth: number) => {
      for (const line of lines) {
        if (line.keyword === 'host') active = matchPatternList(line.args, alias)
        else if (line.keyword === 'match') active = this.match(line, alias, state)
        else if (!active) continue
        else if (line.keyword === 'include') {
          if (depth >= MAX_INCLUDE_DEPTH) {
            this.problems.push({...line.place, message: `Include is nested more than ${MAX_INCLUDE_DEPTH} deep.`})
            continue
          }
          for (const arg of line.args) {
            const path = this.includePath(arg)
            for (const file of globPaths(path)) {
              const included = this.read(file, line.place)
              // An included file starts in the including block's state; it is restored afterwards.
              if (included) walk(included, active, depth + 1)
            }
          }
        } else apply(line)
      }
    }
    walk(this.read(this.path) ?? [], true, 0)
    return result
  }

  private includePath(arg: string): string {
    if (arg === '~' || arg.startsWith('~/')) return join(this.home, arg.slice(1))
    if (isAbsolute(arg)) return arg
    return join(this.home, '.ssh', arg)
  }

  private match(line: SshConfigLine, alias: string, state: {hostName: string; user?: string}): boolean {
    const args = line.args
    let result = true
    for (let i = 0; i < args.length; i++) {
      let criterion = args[i]!.toLowerCase()
      const negate = criterion.startsWith('!')
      if (negate) criterion = criterion.slice(1)
      if (criterion === 'all') {
        if (negate) result = false
        continue
      }
      const takesArg = ['host', 'originalhost', 'user', 'localuser'].includes(criterion)
      if (!takesArg) {
        this.warnOnce(line.place, `Match ${criterion} is not evaluated by fleet; that block was not applied.`)
        return false
      }
      const value = args[++i]
      if (value === undefined) {
        this.problems.push({...line.place, message: `Match ${criterion} has no argument.`})
        return false
      }
      const subject =
        criterion === 'host'
          ? state.hostName
          : criterion === 'originalhost'
            ? alias
            : criterion === 'user'
              ? (state.user ?? this.localUser)
              : this.localUser
      const ok = matchPatternList(value.split(','), subject)
      if (ok === negate) result = false
    }
    return result
  }
}
