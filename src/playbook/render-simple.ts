/**
 * Most of what a playbook renders on a host is plain substitution: `{{ work_dir }}/x`,
 * `{{ facts.home }}`. Rendering that needs no template engine, and loading LiquidJS
 * costs a short run a fifth of its CPU. This renders exactly such text, as LiquidJS
 * would (test/unit/render-simple.test.ts holds the two equal), and answers undefined
 * for anything else: tags, filters, whitespace control, brackets, Liquid's own names, a
 * name that is not there (Liquid's own error says which), a value that is not a string,
 * a finite number or a boolean, or one reached through anything but a plain object's own
 * property.
 */
const TAG = /\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}/g
/** Names Liquid gives a meaning of its own: literals (`{{ empty }}` is no variable), and properties of arrays and strings. */
const LIQUID_NAMES = new Set(['true', 'false', 'nil', 'null', 'empty', 'blank', 'size', 'first', 'last'])

type Value = string | number | boolean

function lookup(scope: Record<string, unknown>, path: string): Value | undefined {
  let v: unknown = scope
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || LIQUID_NAMES.has(key) || !Object.hasOwn(v, key)) return undefined
    v = (v as Record<string, unknown>)[key]
  }
  if (typeof v === 'string' || typeof v === 'boolean') return v
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

export function renderSimple(template: string, scope: Record<string, unknown>, out: (v: Value) => string): string | undefined {
  if (template.includes('{%')) return undefined
  let text = ''
  let last = 0
  for (const m of template.matchAll(TAG)) {
    const between = template.slice(last, m.index)
    if (between.includes('{{')) return undefined
    const v = lookup(scope, m[1])
    if (v === undefined) return undefined
    text += between + out(v)
    last = m.index + m[0].length
  }
  const rest = template.slice(last)
  return rest.includes('{{') ? undefined : text + rest
}
