/**
 * The one helper through which every value reaches a shell command line.
 * POSIX single quotes: nothing inside them is special, and a single quote
 * itself is written as '\'' (close, escaped quote, reopen).
 */
export function shq(value: string | number): string {
  const s = String(value)
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** Quote every word and join them into one command line. */
export function shellJoin(words: Array<string | number>): string {
  return words.map(shq).join(' ')
}
