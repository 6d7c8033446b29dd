import stringWidth from 'string-width'

/**
 * Rows as plain aligned columns, two spaces apart, under a header row: the tables
 * `fleet status` prints. Linear in the cells (one width measure each); cli-table3's
 * per-cell layout took ~0.6 s for a 1,000-host room, more than the rest of the command.
 */
export function columns(head: string[], rows: string[][]): string {
  const all = [head, ...rows]
  const widths = all.map((r) => r.map(width))
  const colWidth = head.map((_, c) => widths.reduce((m, w) => Math.max(m, w[c] ?? 0), 0))
  return all
    .map((r, i) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell + ' '.repeat(colWidth[c] - widths[i][c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** Printable ASCII is one column a character; only other text needs string-width (a 1,000-host table is ~4 ms of it). */
const width = (cell: string): number => (/^[\x20-\x7e]*$/.test(cell) ? cell.length : stringWidth(cell))
