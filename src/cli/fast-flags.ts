/**
 * A flag parser for the CLIs' fast paths: the common commands of `agent` and
 * `fleet status` run without loading oclif, whose start-up costs more CPU than
 * those commands' own work. It understands only plain, valid flags; anything
 * else (help, an unknown or repeated flag, a bad value, a missing required
 * flag, `-pVALUE`) makes it return undefined, and the command goes to oclif,
 * which prints the usual help and messages. Tests hold each fast path's flag
 * table to its oclif command's flags.
 */
export type Kind = 'string' | 'boolean' | 'integer'
export interface FlagSpec {
  kind: Kind
  char?: string
  required?: boolean
  env?: string
  default?: string | number
}
export type Values = Record<string, string | boolean | number | undefined>

/** Flags as oclif would parse them, or undefined when anything is out of the ordinary. */
export function parseFast(argv: readonly string[], spec: Record<string, FlagSpec>): Values | undefined {
  const out: Values = {}
  const byChar = new Map(Object.entries(spec).flatMap(([name, s]) => (s.char ? [[s.char, name] as const] : [])))
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    let name: string | undefined
    let value: string | undefined
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      name = eq > 0 ? arg.slice(2, eq) : arg.slice(2)
      if (eq > 0) value = arg.slice(eq + 1)
    } else if (/^-[a-zA-Z]$/.test(arg)) name = byChar.get(arg[1])
    if (!name || !(name in spec) || name in out) return undefined
    const s = spec[name]
    if (s.kind === 'boolean') {
      if (value !== undefined) return undefined
      out[name] = true
      continue
    }
    if (value === undefined) {
      value = argv[++i]
      if (value === undefined || value.startsWith('-')) return undefined
    }
    if (s.kind === 'integer') {
      if (!/^\d+$/.test(value)) return undefined
      out[name] = Number(value)
    } else out[name] = value
  }
  for (const [name, s] of Object.entries(spec)) {
    if (out[name] === undefined && s.env && process.env[s.env]) out[name] = s.kind === 'integer' ? Number(process.env[s.env]) : process.env[s.env]
    if (out[name] === undefined && s.default !== undefined) out[name] = s.default
    if (s.required && out[name] === undefined) return undefined
    if (s.kind === 'boolean' && out[name] === undefined) out[name] = false
  }
  return out
}
