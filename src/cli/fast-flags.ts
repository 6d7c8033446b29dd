/**
 * A flag parser for the CLIs' fast paths: the common commands of `agent` and
 * `fleet status`, `prepare` and `cleanup` run without loading oclif, whose start-up
 * costs more CPU than those commands' own work. Node's util.parseArgs (strict) does the
 * parsing; on top of it this accepts only plain, valid flags: anything else (help, an
 * unknown or repeated flag, a bad integer, a missing required flag, a value out of its
 * options or under its minimum, a value that starts with
 * '-', `-pVALUE`, `--bool=x`, `--`, a positional) makes it return undefined, and
 * the command goes to oclif, which prints the usual help and messages. So does
 * every command on a Node.js without parseArgs' tokens (before 18.7): the agent
 * runs on any Node.js 18. Tests hold each fast path's flag table to its oclif
 * command's flags.
 */
import * as util from 'node:util'

export type Kind = 'string' | 'boolean' | 'integer'
export interface FlagSpec {
  kind: Kind
  char?: string
  required?: boolean
  env?: string
  default?: string | number
  /** The values a string flag takes; another one goes to oclif, which names them. */
  options?: readonly string[]
  /** The least an integer flag takes; less goes to oclif, which says so. */
  min?: number
}
export type Values = Record<string, string | boolean | number | undefined>

/** Flags as oclif would parse them, or undefined when anything is out of the ordinary. */
export function parseFast(argv: readonly string[], spec: Record<string, FlagSpec>): Values | undefined {
  const parseArgs = (util as Partial<typeof util>).parseArgs
  if (!parseArgs) return undefined
  const options = Object.fromEntries(
    Object.entries(spec).map(([name, s]) => [name, {type: s.kind === 'boolean' ? ('boolean' as const) : ('string' as const), ...(s.char ? {short: s.char} : {})}]),
  )
  let tokens
  try {
    tokens = parseArgs({args: [...argv], options, strict: true, allowPositionals: false, tokens: true}).tokens
  } catch {
    return undefined
  }
  if (!tokens) return undefined
  const out: Values = {}
  for (const t of tokens) {
    // Positionals are refused by parseArgs already; `--` (end of flags) is left to oclif.
    if (t.kind !== 'option') return undefined
    if (Object.hasOwn(out, t.name)) return undefined
    const arg = argv[t.index]
    // An inline value only as `--name=value`; a short flag only alone (no `-pVALUE`, no `-ab`).
    if (t.inlineValue ? !arg.startsWith('--') : arg !== t.rawName) return undefined
    const s = spec[t.name]
    if (s.kind === 'boolean') {
      out[t.name] = true
      continue
    }
    const value = t.value
    if (value === undefined || (!t.inlineValue && value.startsWith('-'))) return undefined
    if (s.kind === 'integer') {
      if (!/^\d+$/.test(value)) return undefined
      out[t.name] = Number(value)
    } else out[t.name] = value
  }
  for (const [name, s] of Object.entries(spec)) {
    if (out[name] === undefined && s.env && process.env[s.env]) out[name] = s.kind === 'integer' ? Number(process.env[s.env]) : process.env[s.env]
    if (out[name] === undefined && s.default !== undefined) out[name] = s.default
    if (s.required && out[name] === undefined) return undefined
    if (s.kind === 'boolean' && out[name] === undefined) out[name] = false
    const v = out[name]
    if (v !== undefined && ((s.options && !s.options.includes(String(v))) || (s.min !== undefined && (v as number) < s.min))) return undefined
  }
  return out
}
