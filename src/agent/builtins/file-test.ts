import {lstatSync, statSync, type Stats} from 'node:fs'

/**
 * Checks and waits are mostly file tests: `test -f {{ dir }}/done`, `test -d A && test -d B`,
 * `[ -f X -o -f Y ]`. Each one costs a bash started for a builtin (~3 ms of CPU with its
 * launch), and a short playbook on 200 hosts runs thousands. Such a script is answered
 * here instead, as bash's `test` would answer it (test/unit/file-test.test.ts holds the
 * two equal on real files); undefined for anything else, which bash runs: any word that
 * is not a plain or single-quoted absolute path (or ''), another operator, a mix of -a and -o,
 * anything after the tests.
 */
const PRIMARY: Record<string, (path: string) => boolean> = {
  '-e': (p) => stat(p) !== undefined,
  '-f': (p) => stat(p)?.isFile() ?? false,
  '-d': (p) => stat(p)?.isDirectory() ?? false,
  '-s': (p) => (stat(p)?.size ?? 0) > 0,
  '-L': (p) => lstat(p)?.isSymbolicLink() ?? false,
  '-h': (p) => lstat(p)?.isSymbolicLink() ?? false,
}

function stat(p: string): Stats | undefined {
  return p ? statSync(p, {throwIfNoEntry: false}) : undefined
}

function lstat(p: string): Stats | undefined {
  return p ? lstatSync(p, {throwIfNoEntry: false}) : undefined
}

/** A shell word made of plain characters, single-quoted parts and \' (shq's output); `[` and `]` only alone. */
const WORD = /^(?:(?:[A-Za-z0-9_./@%+=:,-]+|'[^']*'|\\')+|\[(?=\s|$)|\](?=\s|&&|$))/

/** Split `script` into words and `&&`, or undefined for anything else a shell would read differently. */
function words(script: string): string[] | undefined {
  const out: string[] = []
  let rest = script.trim()
  while (rest) {
    if (rest.startsWith('&&')) {
      out.push('&&')
      rest = rest.slice(2).trimStart()
      continue
    }
    const m = WORD.exec(rest)
    const after = m ? rest.slice(m[0].length) : ''
    // A word ends at a blank, `&&` or the end; anything else glued to it is the shell's to read.
    if (!m || (after && !/^([ \t]|&&)/.test(after))) return undefined
    out.push(m[0].replace(/'([^']*)'|\\'/g, (q, inner?: string) => (q === "\\'" ? "'" : inner!)))
    rest = after.trimStart()
  }
  return out
}

/** One `test ...` or `[ ... ]`: unary file tests joined by all -o or all -a. */
function evalTest(args: string[]): boolean | undefined {
  if (args[0] === '[') {
    if (args[args.length - 1] !== ']') return undefined
    args = args.slice(1, -1)
  } else if (args[0] === 'test') args = args.slice(1)
  else return undefined
  if (args.length < 2 || (args.length + 1) % 3 !== 0) return undefined
  const joins = new Set<string>()
  const results: boolean[] = []
  for (let i = 0; i < args.length; i += 3) {
    const op = PRIMARY[args[i]]
    const path = args[i + 1]
    // Relative paths depend on the step's folder: bash's to answer. '' is no file, for both.
    if (!op || path === undefined || (path !== '' && !path.startsWith('/'))) return undefined
    if (i + 2 < args.length) joins.add(args[i + 2])
    results.push(op(path))
  }
  if (joins.size > 1 || [...joins].some((j) => j !== '-o' && j !== '-a')) return undefined
  return joins.has('-o') ? results.some(Boolean) : results.every(Boolean)
}

export function fileTest(script: string): boolean | undefined {
  if (!/^\s*(test|\[)\s/.test(script)) return undefined
  const w = words(script)
  if (!w) return undefined
  const tests: string[][] = [[]]
  for (const word of w) {
    if (word === '&&') tests.push([])
    else tests[tests.length - 1].push(word)
  }
  // `a && b`: b runs only when a passed; the list's status is the last one run.
  let ok = true
  for (const t of tests) {
    const r = evalTest(t)
    if (r === undefined) return undefined
    ok = ok && r
  }
  return ok
}
