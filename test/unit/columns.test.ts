import {describe, expect, it} from 'vitest'
import {columns} from '../../src/ui/columns.js'

describe('columns', () => {
  it('aligns every column to its widest cell, two spaces apart, with no trailing spaces', () => {
    const text = columns(['HOST', 'STATE', 'ERROR'], [['lab-1', 'ok', ''], ['a-much-longer-name', 'failed', 'E: no such package']])
    expect(text.split('\n')).toEqual(['HOST                STATE   ERROR', 'lab-1               ok', 'a-much-longer-name  failed  E: no such package'])
  })

  it('measures wide characters by their display width', () => {
    const text = columns(['NAME', 'X'], [['日本', '1'], ['ab', '2']])
    const [, wide, narrow] = text.split('\n')
    expect(wide).toBe('日本  1')
    expect(narrow).toBe('ab    2')
  })
})
