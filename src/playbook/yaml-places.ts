import type {Document, LineCounter} from 'yaml'
import type {z} from 'zod'
import {UserError} from '../errors/user-error.js'
import {engine} from './engines.js'

/** A parsed YAML file that can say on which line any path of it sits (the yaml library, loaded when first needed: engines.ts). */
export interface YamlFile {
  file: string
  doc: Document.Parsed
  lines: LineCounter
  data: unknown
}

export function parseYamlFile(file: string, text: string): YamlFile {
  const {LineCounter, parseDocument} = engine('yaml')
  const lines = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true})
  const err = doc.errors[0]
  if (err) {
    const line = lines.linePos(Math.min(err.pos[0], Math.max(0, text.length - 1))).line
    const what = err.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '')
    throw new UserError(`${file}:${line}: not valid YAML: ${what}.`)
  }
  // `key: {{ x }}` unquoted is YAML's map in a map, not a template: say so at its line (else it
  // renders as JSON, with a warning from the YAML reader on stderr).
  const {visit, isMap} = engine('yaml')
  visit(doc, {
    Pair(_key, pair) {
      if (isMap(pair.key)) {
        const at = (pair.key as {range?: number[]}).range?.[0] ?? 0
        throw new UserError(`${file}:${lines.linePos(at).line}: not valid YAML here: {{ }} at the start of a value reads as a YAML map; quote the value ("{{ name }}").`)
      }
    },
  })
  let data: unknown
  try {
    // More aliases than the reader's default of 100 (a step list that repeats `env: *proxy`); still a bound on expansion.
    data = doc.toJS({maxAliasCount: 10_000})
  } catch (e) {
    throw new UserError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}.`)
  }
  return {file, doc, lines, data}
}

/** The line of the deepest node on `path` that exists (a missing field points at its parent). */
export function lineOf(y: YamlFile, path: ReadonlyArray<PropertyKey>): number {
  const {isMap, isSeq} = engine('yaml')
  let node: unknown = y.doc.contents
  let offset = (node as {range?: number[]})?.range?.[0] ?? 0
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as {value?: unknown})?.value === key)
      if (!pair) break
      offset = (pair.key as {range?: number[]})?.range?.[0] ?? offset
      node = pair.value
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key]
      offset = (node as {range?: number[]})?.range?.[0] ?? offset
    } else break
  }
  return y.lines.linePos(offset).line
}

/** A field path for humans: step ids instead of array indexes where there are ids. */
export function fieldName(data: unknown, path: ReadonlyArray<PropertyKey>): string {
  let node: unknown = data
  let out = ''
  for (const key of path) {
    const child = node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined
    if (typeof key === 'number') {
      const childId = child && typeof child === 'object' ? (child as {id?: unknown}).id : undefined
      out += typeof childId === 'string' ? `[${childId}]` : `[${key}]`
    } else out += out ? `.${String(key)}` : String(key)
    node = child
  }
  return out
}

/** Turn the first zod issue into the one sentence a user gets: file, line, field, problem. */
export function zodProblem(y: YamlFile, error: z.ZodError): UserError {
  const issue = error.issues[0]
  let path: PropertyKey[] = [...issue.path]
  let message = issue.message
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]
    path = [...path, key]
    message = `unknown field (allowed fields are listed in README.md)`
  }
  const line = lineOf(y, path)
  const field = fieldName(y.data, path) || '(top level)'
  return new UserError(`${y.file}:${line}: field "${field}": ${lowerFirst(message.replace(/^Invalid input: /, ''))}.`.replace(/\.\.$/, '.'))
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1)
}
