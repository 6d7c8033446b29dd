/**
 * The plain-substitution renderer (src/playbook/render-simple.ts) is LiquidJS's answer
 * without LiquidJS: for every template it takes, both engines render the same text, and
 * it leaves everything else to Liquid (whose errors name the problem).
 */
import {describe, expect, it} from 'vitest'
import {renderSimple} from '../../src/playbook/render-simple.js'
import {renderShell, renderText, renderWithLiquid} from '../../src/playbook/render.js'
import {shq} from '../../src/shell/quote.js'

const scope = {
  name: 'web-01',
  spaced: '  two  words ',
  quote: `it's "quoted" $HOME \`x\``,
  n: 5,
  neg: -2.5,
  zero: 0,
  big: 12345678901234567890,
  yes: true,
  no: false,
  nothing_here: '',
  empty: 'a var Liquid never reads: empty is its literal',
  facts: {home: '/home/u', os: {id: 'debian', version_id: '12'}, list: ['a', 'b'], nothing: null},
  list: [1, 2, 3],
  obj: {a: 1},
}

const taken = [
  'plain {{ name }}',
  '{{name}}/x',
  '{{   facts.home   }}/work dir',
  '{{ facts.os.id }}-{{ facts.os.version_id }}',
  '{{ spaced }}|{{ quote }}',
  'n={{ n }} neg={{ neg }} zero={{ zero }} big={{ big }}',
  '{{ yes }} {{ no }} [{{ nothing_here }}]',
  'multi\nline {{ name }}\n{{ n }}\n',
  '} { }} {{ name }} }',
]

const left = [
  '{{ name | upcase }}',
  '{% if yes %}x{% endif %}',
  '{{- name -}}',
  '{{ list }}',
  '{{ obj }}',
  '{{ facts.list }}',
  '{{ facts.nothing }}',
  '{{ list.size }}',
  '{{ facts.list.first }}',
  '{{ facts["home"] }}',
  '{{ name }} and {{ missing }}',
  '{{ facts.missing.deeper }}',
  '{{ "literal" }}',
  '{{ name }} {{ broken',
  '{{ constructor }}',
  '[{{ empty }}]',
  '{{ true }}',
  '{{ nil }}',
]

describe('plain substitution renders as LiquidJS does', () => {
  it.each(taken)('%j: the same text from both, in shell fields (quoted) and in text', (t) => {
    expect(renderSimple(t, scope, String)).toBe(renderWithLiquid('text', t, scope))
    expect(renderSimple(t, scope, (v) => shq(String(v)))).toBe(renderWithLiquid('shell', t, scope))
  })

  it.each(left)('%j: left to LiquidJS, which renders it or names the problem', (t) => {
    expect(renderSimple(t, scope, String)).toBeUndefined()
    let liquid: string | Error
    try {
      liquid = renderWithLiquid('text', t, scope)
    } catch (e) {
      liquid = e as Error
    }
    if (liquid instanceof Error) expect(() => renderText(t, scope)).toThrow(liquid.message)
    else expect(renderText(t, scope)).toBe(liquid)
  })

  it('renderShell and renderText take the plain path and agree with Liquid on it', () => {
    for (const t of taken) {
      expect(renderText(t, scope)).toBe(renderWithLiquid('text', t, scope))
      expect(renderShell(t, scope)).toBe(renderWithLiquid('shell', t, scope))
    }
  })
})
