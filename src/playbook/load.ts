import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {UserError} from '../errors/user-error.js'
import type {ArtifactSpec, PlaybookSpec, StepSpec} from './schema.js'
import {engine, passMissing} from './engines.js'
import {bundleFileList, bundlePath} from './bundle-files.js'
import {checkCondition, checkSyntax, findQuotedInterpolation} from './render.js'
import {lineOf, parseYamlFile, zodProblem, type YamlFile} from './yaml-places.js'
import {compiledPath} from '../protocol/remote-layout.js'
import {
  COMPILED_FORMAT,
  type CompiledPlaybook,
  type CompiledVarSpecs,
  DEFAULT_REBOOT_COMMAND,
  DEFAULT_RETRY_DELAY_S,
  DEFAULT_TIMEOUT_S,
  DEFAULT_WAIT_INTERVAL_S,
  DEFAULT_WAIT_TIMEOUT_S,
  type Phase,
  type Playbook,
  type Step,
} from './types.js'

const SHELL_FIELDS = ['check', 'run', 'verify', 'undo'] as const

/** The schemas, loaded when first needed (engines.ts). */
const playbookSchema = {safeParse: (data: unknown) => engine('schemas').playbookSchema.safeParse(data)}
const varsFileSchema = {safeParse: (data: unknown) => engine('schemas').varsFileSchema.safeParse(data)}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new UserError(`${file}: cannot read the ${what} (${code === 'ENOENT' ? 'no such file' : code ?? String(e)}).`)
  }
}

/**
 * Load, validate and resolve a playbook and its vars file. Everything a run
 * needs is checked here, before anything runs: schema, duplicate ids,
 * template syntax, template files, unknown or missing vars.
 */
export function loadPlaybook(path: string, varsPath?: string, compiled?: CompiledPlaybook): Playbook {
  const file = resolve(path)
  // Given `compiled` (the dry run compiles from the YAML first, for its answer), it is not made twice.
  if (compiled) return withVars(compiled, file, path, varsPath)
  const text = readText(path, 'playbook')
  return withVars(readCompiled(file, text) ?? compileYaml(path, file, text), file, path, varsPath)
}

/**
 * The playbook without its vars file, from its YAML: schema, ids, steps, templates read and
 * checked, the vars it declares. What the instructor's dry run also ships to the hosts as JSON
 * beside the playbook (compiledPath), so they need neither the YAML parser nor the schemas.
 */
export function compilePlaybook(path: string): CompiledPlaybook {
  const file = resolve(path)
  return compileYaml(path, file, readText(path, 'playbook'))
}

function compileYaml(path: string, file: string, text: string): CompiledPlaybook {
  const y = parseYamlFile(path, text)
  const parsed = playbookSchema.safeParse(y.data)
  if (!parsed.success) throw zodProblem(y, parsed.error)
  const spec = parsed.data
  const dir = dirname(file)
  const hash = createHash('sha256').update(text)

  const defaults = spec.defaults ?? {}
  const phases: Phase[] = []
  const steps: Step[] = []
  const seen = new Map<string, number>()
  const groups = spec.phases ?? [{id: undefined, title: undefined, steps: spec.steps ?? []}]
  groups.forEach((group, gi) => {
    if (group.id !== undefined) {
      const at = ['phases', gi, 'id']
      claimId(y, seen, group.id, at, 'phase')
      phases.push({id: group.id, title: group.title ?? group.id, steps: group.steps.map((s) => s.id)})
    }
    group.steps.forEach((s, si) => {
      const at: PropertyKey[] = group.id !== undefined ? ['phases', gi, 'steps', si] : ['steps', si]
      claimId(y, seen, s.id, [...at, 'id'], 'step')
      steps.push(buildStep(y, s, at, group.id, defaults))
      if (s.template) hash.update(readTemplate(y, dir, s.template.src, [...at, 'template', 'src'], s.id))
    })
  })

  return {
    format: COMPILED_FORMAT,
    name: spec.name,
    description: spec.description,
    hash: hash.digest('hex'),
    varSpecs: varSpecsOf(y, spec.vars ?? {}),
    logs: spec.logs ?? [],
    bundleFiles: bundleFileList(y, file, dir, spec),
    artifacts: checkArtifacts(y, spec),
    phases,
    steps,
  }
}

/**
 * The compiled playbook shipped beside this one, when it is this playbook's: its hash, over
 * the playbook's text and its templates' as compiled, is theirs now (a stale or foreign one
 * is ignored: the YAML is read instead).
 */
function readCompiled(file: string, text: string): CompiledPlaybook | undefined {
  let compiled: CompiledPlaybook
  try {
    compiled = JSON.parse(readFileSync(compiledPath(file), 'utf8')) as CompiledPlaybook
  } catch {
    return undefined
  }
  if (compiled?.format !== COMPILED_FORMAT || !Array.isArray(compiled.steps)) return undefined
  const hash = createHash('sha256').update(text)
  const dir = dirname(file)
  try {
    for (const s of compiled.steps) if (s.template) hash.update(readFileSync(resolve(dir, s.template.src), 'utf8'))
  } catch {
    return undefined
  }
  return hash.digest('hex') === compiled.hash ? compiled : undefined
}

/** The playbook with its vars: the declared defaults, the vars file's values over them, every required one given. */
function withVars(c: CompiledPlaybook, file: string, shownPath: string, varsPath: string | undefined): Playbook {
  const {format: _f, varSpecs, ...rest} = c
  const {vars, secrets} = resolveVars(shownPath, varSpecs, varsPath)
  const secretValues = secrets.map((n) => vars[n]).filter((v): v is string | number => typeof v === 'string' || typeof v === 'number').map(String).filter((v) => v.length > 0)
  return {
    ...rest,
    path: file,
    dir: dirname(file),
    vars,
    secrets,
    secretValues,
    varsHash: createHash('sha256').update(JSON.stringify(vars)).digest('hex'),
  }
}

/**
 * The timeouts a playbook declares, by step id (seconds: the step's `timeout`, else the
 * playbook's `defaults.timeout`; a step declaring neither is absent, since fleet's
 * built-in default is a guard, not an estimate): what `fleet status` falls back to for a
 * step no host has finished yet. Only the playbook file is read and checked against its
 * schema: timeouts are plain numbers, so its vars (the vars file may be gone, a var
 * unset here) and templates change none of them. Throws UserError as loadPlaybook does.
 */
export function declaredTimeouts(path: string): Map<string, number> {
  const y = parseYamlFile(path, readText(path, 'playbook'))
  const parsed = playbookSchema.safeParse(y.data)
  if (!parsed.success) throw zodProblem(y, parsed.error)
  const spec = parsed.data
  const out = new Map<string, number>()
  for (const group of spec.phases ?? [{steps: spec.steps ?? []}]) {
    for (const s of group.steps) {
      const t = s.timeout ?? spec.defaults?.timeout
      if (t !== undefined) out.set(s.id, t)
    }
  }
  return out
}

/** Each artifact names declared vars; an artifact listed twice would be mirrored twice. */
function checkArtifacts(y: YamlFile, spec: PlaybookSpec): ArtifactSpec[] {
  const declared = spec.vars ?? {}
  const seen = new Set<string>()
  ;(spec.artifacts ?? []).forEach((a, i) => {
    for (const field of ['var', 'checksum_var'] as const) {
      const name = a[field]
      if (name !== undefined && !(name in declared)) throw new UserError(`${y.file}:${lineOf(y, ['artifacts', i, field])}: field "artifacts[${i}].${field}": the playbook has no var ${JSON.stringify(name)}; declare it under vars: with its URL.`)
    }
    if (seen.has(a.var)) throw new UserError(`${y.file}:${lineOf(y, ['artifacts', i, 'var'])}: field "artifacts[${i}].var": ${a.var} is listed twice.`)
    seen.add(a.var)
  })
  return spec.artifacts ?? []
}

function claimId(y: YamlFile, seen: Map<string, number>, id: string, at: PropertyKey[], kind: string): void {
  const line = lineOf(y, at)
  const first = seen.get(id)
  if (first !== undefined) throw new UserError(`${y.file}:${line}: field "id": ${kind} id "${id}" is already used on line ${first}.`)
  seen.set(id, line)
}

function buildStep(y: YamlFile, s: StepSpec, at: PropertyKey[], phase: string | undefined, defaults: {timeout?: number; retries?: number; retry_delay?: number; needs_root?: boolean}): Step {
  const fail = (field: string, message: string): never => {
    throw new UserError(`${y.file}:${lineOf(y, [...at, ...field.split('.')])}: field "steps[${s.id}].${field}": ${message}.`)
  }
  const templated: Array<[string, string | undefined]> = [
    ...SHELL_FIELDS.map((f): [string, string | undefined] => [f, s[f]]),
    ['when', s.when],
    ['template.dest', s.template?.dest],
    ['wait_for.tcp', s.wait_for?.tcp],
    ['wait_for.command', s.wait_for?.command],
    ['reboot.command', s.reboot?.command],
    ...Object.entries(s.env ?? {}).map(([k, v]): [string, string] => [`env.${k}`, v]),
  ]
  for (const [field, value] of templated) {
    if (value === undefined) continue
    try {
      if (field === 'when') checkCondition(value)
      else checkSyntax(value)
    } catch (e) {
      passMissing(e)
      fail(field, `template error: ${(e as Error).message.replace(/, line:\d+, col:\d+$/, '')}`)
    }
  }
  for (const field of [...SHELL_FIELDS, 'wait_for.command'] as const) {
    const value = field === 'wait_for.command' ? s.wait_for?.command : s[field]
    const quoted = value && findQuotedInterpolation(value)
    if (quoted) fail(field, `${quoted} is quoted twice; values are shell-quoted automatically, so drop the quotes around {{ }}`)
  }
  return {
    id: s.id,
    title: s.title ?? s.id,
    phase,
    when: s.when,
    needs_root: s.needs_root ?? defaults.needs_root ?? false,
    env: s.env ?? {},
    timeout_s: s.timeout ?? defaults.timeout ?? DEFAULT_TIMEOUT_S,
    retries: s.retries ?? defaults.retries ?? 0,
    retry_delay_s: s.retry_delay ?? defaults.retry_delay ?? DEFAULT_RETRY_DELAY_S,
    check: s.check,
    run: s.run,
    verify: s.verify,
    undo: s.undo,
    template: s.template,
    wait_for: s.wait_for && {
      tcp: s.wait_for.tcp,
      command: s.wait_for.command,
      timeout_s: s.wait_for.timeout ?? DEFAULT_WAIT_TIMEOUT_S,
      interval_s: s.wait_for.interval ?? DEFAULT_WAIT_INTERVAL_S,
    },
    reboot: s.reboot && {command: s.reboot.command ?? DEFAULT_REBOOT_COMMAND},
    refresh_facts: s.refresh_facts ?? false,
    line: lineOf(y, at),
  }
}

function readTemplate(y: YamlFile, dir: string, src: string, at: PropertyKey[], stepId: string): string {
  // Inside the playbook's folder (it ships in the bundle), checked before anything is read.
  const file = resolve(dir, bundlePath(y, dir, src, at, `steps[${stepId}].template.src`))
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new UserError(`${y.file}:${lineOf(y, at)}: field "steps[${stepId}].template.src": ${src} is not a readable file beside the playbook.`)
  }
  try {
    checkSyntax(text)
  } catch (e) {
    passMissing(e)
    throw new UserError(`${file}: template error: ${(e as Error).message}.`)
  }
  return text
}

type VarSpecs = NonNullable<PlaybookSpec['vars']>

/** What the playbook's `vars:` declare: defaults, which are secret, which must be given, and each one's line. */
function varSpecsOf(y: YamlFile, specs: VarSpecs): CompiledVarSpecs {
  const out: CompiledVarSpecs = {names: [], defaults: {}, secrets: [], required: [], lines: {}}
  for (const [name, spec] of Object.entries(specs)) {
    out.names.push(name)
    out.lines[name] = lineOf(y, ['vars', name])
    const isMapSpec = spec !== null && typeof spec === 'object' && !Array.isArray(spec) && ('secret' in spec || 'description' in spec || 'value' in spec) && Object.keys(spec).every((k) => ['secret', 'value', 'description'].includes(k))
    if (isMapSpec) {
      const m = spec as {secret?: boolean; value?: unknown}
      if (m.secret) out.secrets.push(name)
      if (m.value !== undefined) out.defaults[name] = m.value
      else out.required.push(name)
    } else out.defaults[name] = spec
  }
  return out
}

/**
 * The vars in the order the playbook declares them (a string var may use the ones above it,
 * scopeFor), each the vars file's value or else the playbook's default. A blank value in the
 * vars file (`host:`, or `password: ""` for a secret without a default) is no value. A secret
 * is a string or a number: anything else could not be redacted, and would reach the output and
 * the logs as it is.
 */
function resolveVars(file: string, specs: CompiledVarSpecs, varsPath: string | undefined): {vars: Record<string, unknown>; secrets: string[]} {
  const given = varsPath ? readVarsFile(varsPath) : new Map<string, {value: unknown; line: number}>()
  const declared = new Set(specs.names)
  for (const [name, {line}] of given) {
    if (!declared.has(name)) {
      throw new UserError(`${varsPath}:${line}: field "${name}": the playbook ${file} has no var of that name (its vars: ${specs.names.join(', ') || 'none'}).`)
    }
  }
  // Blank: null; for a secret the playbook leaves to the vars file, "" too (an empty password is a template not filled in).
  const required = new Set(specs.required)
  const secret = new Set(specs.secrets)
  const blank = (name: string, v: unknown) => v === null || (v === '' && required.has(name) && secret.has(name))
  const vars: Record<string, unknown> = {}
  for (const name of specs.names) {
    const g = given.get(name)
    if (g && !blank(name, g.value)) vars[name] = g.value
    else if (name in specs.defaults) vars[name] = specs.defaults[name]
  }
  const unset = specs.required.find((n) => !(n in vars))
  if (unset !== undefined) {
    const left = given.get(unset)
    if (left) throw new UserError(`${varsPath}:${left.line}: field "${unset}": is blank; give it a value.`)
    throw new UserError(`${file}:${specs.lines[unset] ?? 1}: field "vars.${unset}": has no value; give it in the vars file (--vars FILE).`)
  }
  for (const name of specs.secrets) {
    const kind = notScalar(vars[name])
    if (!kind) continue
    const g = given.get(name)
    const where = g && !blank(name, g.value) ? `${varsPath}:${g.line}: field "${name}"` : `${file}:${specs.lines[name] ?? 1}: field "vars.${name}.value"`
    const copied = g && kind === 'a map' && 'value' in (g.value as object) ? ` (a vars file gives the value itself: "${name}: VALUE")` : ''
    throw new UserError(`${where}: a secret is a string or a number, not ${kind}${copied}.`)
  }
  return {vars, secrets: specs.secrets}
}

/** What a value that is neither a string nor a number is, for a sentence; undefined for those (and for no value). */
function notScalar(v: unknown): string | undefined {
  if (v === undefined || v === null || typeof v === 'string' || typeof v === 'number') return undefined
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a map'
  return `${String(v)} (${typeof v})`
}

/**
 * A vars file's values with their lines. fleet sends JSON (a JSON object is YAML too, and
 * JSON.parse needs neither the YAML parser nor the schema: any JSON value is a var value);
 * a vars file written by hand is YAML, checked against its schema.
 */
function readVarsFile(varsPath: string): Map<string, {value: unknown; line: number}> {
  const text = readText(varsPath, 'vars file')
  const out = new Map<string, {value: unknown; line: number}>()
  if (text.trimStart().startsWith('{')) {
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch {
      data = undefined
    }
    if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
      for (const [name, value] of Object.entries(data)) out.set(name, {value, line: 1})
      return out
    }
    // Not JSON after all (a YAML flow map, say): read as YAML below.
  }
  const vy = parseYamlFile(varsPath, text)
  if (vy.data === null || vy.data === undefined) return out // an empty vars file sets nothing
  const parsed = varsFileSchema.safeParse(vy.data)
  if (!parsed.success) throw zodProblem(vy, parsed.error)
  for (const [name, value] of Object.entries(parsed.data)) out.set(name, {value, line: lineOf(vy, [name])})
  return out
}
