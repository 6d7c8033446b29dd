import type {Liquid} from 'liquidjs'
import {shq} from '../shell/quote.js'
import {engine} from './engines.js'
import {renderSimple} from './render-simple.js'

/**
 * Templating is LiquidJS, whose `{{ var }}` and `{% if %}` read like the
 * Jinja2 an Ansible user knows. Two engines (and a strict one for `when`): in shell fields (check, run,
 * undo, verify, env) every interpolated value is shell-quoted by the shared
 * helper, so a value can never break out of its word; template files render
 * values as they are. Undefined variables are errors, never empty strings,
 * except where the template says what to do without one (Liquid's lenientIf):
 * `{{ x | default: y }}` and `{% if x %}`, which local facts need before the
 * step that writes them has run. A step's `when` stays strict, as in Ansible.
 */
let engines: {shell: Liquid; text: Liquid; condition: Liquid} | undefined
/** The engines, made on first use (LiquidJS is loaded only for a playbook that has templates, engines.ts). */
function liquid(): NonNullable<typeof engines> {
  if (engines) return engines
  const {Liquid} = engine('liquidjs')
  // A locale of our own (the date filter's month and day names): every host renders a
  // template alike whatever its LANG, and LiquidJS skips asking Intl for the system's
  // (~5 ms of CPU per engine at a Node.js start).
  const locale = 'en-US'
  engines = {
    shell: new Liquid({strictVariables: true, strictFilters: true, lenientIf: true, locale, outputEscape: (v: unknown) => shq(stringify(v))}),
    text: new Liquid({strictVariables: true, strictFilters: true, lenientIf: true, locale}),
    condition: new Liquid({strictVariables: true, strictFilters: true, locale}),
  }
  return engines
}

/**
 * Text with no tag (`{{`, `{%`) is one plain text token to Liquid, rendered as it is and
 * never a syntax error: no engine is needed for it.
 */
const plain = (template: string) => !template.includes('{{') && !template.includes('{%')

function stringify(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

export type Scope = Record<string, unknown>

export function renderShell(template: string, scope: Scope): string {
  return plain(template) ? template : renderSimple(template, scope, (v) => shq(String(v))) ?? liquid().shell.parseAndRenderSync(template, scope)
}

export function renderText(template: string, scope: Scope): string {
  return plain(template) ? template : renderSimple(template, scope, String) ?? liquid().text.parseAndRenderSync(template, scope)
}

/** LiquidJS alone, without the plain-substitution path (for the test that holds the two equal). */
export function renderWithLiquid(kind: 'shell' | 'text', template: string, scope: Scope): string {
  return liquid()[kind].parseAndRenderSync(template, scope)
}

/** A `when` condition: a Liquid expression such as `facts.os.id == "debian" and allow_emulation`. */
export function evalCondition(expr: string, scope: Scope): boolean {
  return liquid().condition.parseAndRenderSync(`{% if ${expr} %}1{% endif %}`, scope) === '1'
}

/**
 * A `when` checked whole before anything runs. Liquid reads `a ==` or `a == "x" and` as false
 * without a word, which would skip the step silently: operands and operators must alternate,
 * an operand first and last (`not` stands before one).
 */
export function checkCondition(expr: string): void {
  checkSyntax(`{% if ${expr} %}{% endif %}`)
  const {Tokenizer, TokenKind} = engine('liquidjs')
  let operand = true
  for (const t of new Tokenizer(expr).readExpressionTokens()) {
    const text = t.getText()
    if (t.kind === TokenKind.Operator && text === 'not' && operand) continue
    if ((t.kind === TokenKind.Operator) === operand) throw new Error(operand ? `"${text}" needs a value before it` : `"${text}" needs an operator (==, and, contains, ...) before it`)
    operand = !operand
  }
  if (operand) throw new Error('the condition ends without the value it compares with')
}

/** Syntax check without rendering, so a broken template is refused before anything runs. */
export function checkSyntax(template: string): void {
  if (!plain(template)) liquid().text.parse(template)
}

/**
 * A `{{ }}` inside shell quotes would quote an already-quoted value: values
 * are quoted for the shell automatically, so the surrounding quotes are a
 * mistake. Scans the script's quoting (single, double, backslash) to find one.
 */
export function findQuotedInterpolation(script: string): string | undefined {
  let quote: "'" | '"' | undefined
  for (let i = 0; i < script.length; i++) {
    const c = script[i]
    if (c === '\\' && quote !== "'") {
      i++
      continue
    }
    if (script.startsWith('{{', i) && quote) {
      const end = script.indexOf('}}', i)
      return `${quote}...${script.slice(i, end === -1 ? undefined : end + 2)}...${quote}`
    }
    if (c === "'" || c === '"') {
      if (!quote) quote = c
      else if (quote === c) quote = undefined
    }
    // A comment runs to the end of its line; its quotes are not quoting.
    if (c === '#' && !quote && (i === 0 || /\s/.test(script[i - 1]))) {
      const nl = script.indexOf('\n', i)
      if (nl === -1) break
      i = nl
    }
  }
  return undefined
}
