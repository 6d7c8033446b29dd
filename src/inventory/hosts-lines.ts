import {buildHost, FIELD_KEYS, type FieldKey, type ParsedHost, type RawField} from './fields.js'
import type {Problem} from './problems.js'
import {tokenize} from './syntax.js'

/*
 * The native hosts file: one host per line,
 *
 *   [user@]address[:port] [key=value ...]   # comment
 *
 * with the keys of FIELD_KEYS. Blank lines and `#` comments are skipped.
 * `role=cache` (at most one host): this host becomes the room cache: fleet
 * prepare prepares it first with playbooks/cache.yaml, then points the others at it.
 */

export function parseHostLines(lines: string[], file: string): {hosts: ParsedHost[]; problems: Problem[]} {
  const hosts: ParsedHost[] = []
  const problems: Problem[] = []
  lines.forEach((text, index) => {
    const line = index + 1
    const words = tokenize(text)
    if (!words.ok) {
      problems.push({file, line, message: words.message})
      return
    }
    const [first, ...rest] = words.tokens
    if (first === undefined) return
    if (first.includes('=')) {
      problems.push({file, line, message: `the line starts with a field (${JSON.stringify(first)}); write the host address first.`})
      return
    }
    const fields: RawField[] = []
    let wordsOk = true
    for (const word of rest) {
      const eq = word.indexOf('=')
      if (eq <= 0) {
        problems.push({file, line, message: `${JSON.stringify(word)} is not a key=value field (one address per line).`})
        wordsOk = false
        continue
      }
      const key = word.slice(0, eq)
      if (!(FIELD_KEYS as readonly string[]).includes(key)) {
        problems.push({
          file,
          line,
          message: `unknown field ${JSON.stringify(key)} (known: ${FIELD_KEYS.join(', ')}).`,
        })
        wordsOk = false
        continue
      }
      fields.push({key: key as FieldKey, raw: word.slice(eq + 1), place: {file, line, field: key}})
    }
    const host = buildHost({file, line}, {text: first, place: {file, line}}, fields, problems)
    if (host) {
      if (!wordsOk) host.valid = false
      hosts.push(host)
    }
  })
  return {hosts, problems}
}
