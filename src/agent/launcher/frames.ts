/** What the python launcher sends back: a 9-byte header (kind, id, length) and the payload. */
export const Kind = {
  /** The launcher is up; payload: its pid (u32). */
  Hello: 0x48,
  /** payload: the child's pid (u32), which is also its process group and session. */
  Spawned: 0x53,
  /** payload: raw bytes the child wrote to stdout. */
  Stdout: 0x4f,
  /** payload: raw bytes the child wrote to stderr. */
  Stderr: 0x45,
  /** The child exited and its output pipes closed; payload: exit code (i32, -1 if none), signal number (i32, 0 if none). */
  Exit: 0x58,
  /** The child could not be started; payload: an errno code such as ENOENT. */
  Failed: 0x46,
} as const

export interface Frame {
  /** One of Kind. */
  kind: number
  id: number
  payload: Buffer
}

const HEADER = 9

/** Cuts the launcher's stdout into frames, whatever the chunking of the pipe. */
export class FrameReader {
  private rest: Buffer = Buffer.alloc(0)

  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    const buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk
    let off = 0
    while (buf.length - off >= HEADER) {
      const len = buf.readUInt32LE(off + 5)
      if (buf.length - off - HEADER < len) break
      onFrame({kind: buf[off], id: buf.readUInt32LE(off + 1), payload: buf.subarray(off + HEADER, off + HEADER + len)})
      off += HEADER + len
    }
    this.rest = buf.subarray(off)
  }
}
