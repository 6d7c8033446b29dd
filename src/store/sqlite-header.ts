/** The first 16 bytes of every SQLite database file: how fleet knows one (a --db to open, a file never to ship) without opening it. */
export const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1')
