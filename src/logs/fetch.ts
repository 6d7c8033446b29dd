import {createWriteStream, mkdirSync, rmSync} from 'node:fs'
import {dirname} from 'node:path'
import type {ExecResult, Transport} from '../transport/types.js'
import {extractArchive, type Refused} from './extract.js'

export interface Fetched {
  result: ExecResult
  /** Bytes of the tar.gz stream. */
  received: number
  refused: Refused[]
}

/**
 * Run `command` on the host, which writes a tar.gz on stdout; keep the stream
 * in DEST.tar.gz.part (beside DEST) and then extract it safely into `dest`.
 * An empty stream extracts nothing. `accept` says which exit codes still mean
 * an archive (GNU tar's 1: a file changed while it was read).
 */
export async function fetchArchive(t: Transport, command: string, dest: string, accept: (code: number | null) => boolean = (c) => c === 0): Promise<Fetched> {
  mkdirSync(dirname(dest), {recursive: true, mode: 0o700})
  const part = `${dest}.tar.gz.part`
  const file = createWriteStream(part, {mode: 0o600})
  const written = new Promise<void>((ok, fail) => {
    file.on('finish', ok)
    file.on('error', fail)
  })
  let received = 0
  try {
    let result: ExecResult
    try {
      result = await t.exec(command, {
        onStdout: (b) => {
          received += b.length
          file.write(b)
        },
      })
    } finally {
      file.end()
      await written
    }
    if (!accept(result.code) || received === 0) return {result, received, refused: []}
    try {
      const {refused} = await extractArchive(part, dest)
      return {result, received, refused}
    } catch (e) {
      throw new Error(`the archive from the host could not be extracted: ${(e as Error).message}`)
    }
  } finally {
    rmSync(part, {force: true})
  }
}
