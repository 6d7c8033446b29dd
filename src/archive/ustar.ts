/** One file of an archive: a relative path, its bytes, its permission bits. */
export interface ArchiveFile {
  rel: string
  data: Buffer
  mode: number
}

/**
 * A POSIX ustar archive of plain files (no directories: GNU tar makes them on
 * extraction), owned by root/0. Written by hand because both the bundle upload
 * and the SSM upload need only this much, and a dependency for 40 lines of
 * header layout would not pay. `mtime` (seconds) defaults to a fixed time so
 * the same files make the same bytes, which SSM relies on to share commands.
 */
export function ustar(files: readonly ArchiveFile[], opts: {mtime?: number} = {}): Buffer {
  const mtime = opts.mtime ?? 1_700_000_000
  const blocks: Buffer[] = []
  for (const f of files) {
    if (f.rel.startsWith('/') || f.rel.split('/').some((p) => p === '..' || p === '')) throw new Error(`not a relative path: ${f.rel}`)
    const [prefix, name] = splitName(f.rel)
    const h = Buffer.alloc(512)
    const put = (text: string, at: number, len: number) => h.write(text, at, len, 'utf8')
    const octal = (n: number, at: number, len: number) => put(`${n.toString(8).padStart(len - 1, '0')}\0`, at, len)
    put(name, 0, 100)
    octal(f.mode & 0o7777, 100, 8)
    octal(0, 108, 8)
    octal(0, 116, 8)
    octal(f.data.length, 124, 12)
    octal(mtime, 136, 12)
    put('        ', 148, 8)
    put('0', 156, 1)
    put('ustar\0', 257, 6)
    put('00', 263, 2)
    put('root', 265, 32)
    put('root', 297, 32)
    put(prefix, 345, 155)
    let sum = 0
    for (const b of h) sum += b
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8)
    blocks.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

/** ustar keeps a long path as PREFIX/NAME, NAME at most 100 bytes and PREFIX at most 155. */
function splitName(path: string): [prefix: string, name: string] {
  if (Buffer.byteLength(path) <= 100) return ['', path]
  const at = [...path.matchAll(/\//g)].map((m) => m.index).find((i) => Buffer.byteLength(path.slice(i + 1)) <= 100 && Buffer.byteLength(path.slice(0, i)) <= 155)
  if (at === undefined) throw new Error(`path too long for a tar header: ${path}`)
  return [path.slice(0, at), path.slice(at + 1)]
}
