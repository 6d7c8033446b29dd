import {chmodSync, readFileSync, renameSync, statSync, writeFileSync} from 'node:fs'
import {dirname, basename, join} from 'node:path'
import {shq} from '../../shell/quote.js'
import {runShell} from '../exec.js'

export interface RenderedFile {
  content: string
  dest: string
  mode?: number
}

/**
 * Whether dest already holds exactly this content (and mode): the template step's own check.
 * A file the agent's user cannot read (0640 root, or below a folder it cannot enter) is read
 * through sudo when the step writes through sudo, so a second run skips it like any other.
 */
export async function fileUpToDate(f: RenderedFile, sudo: boolean): Promise<boolean> {
  const same = (content: string, mode: number) => content === f.content && (f.mode === undefined || mode === f.mode)
  try {
    return same(readFileSync(f.dest, 'utf8'), statSync(f.dest).mode & 0o7777)
  } catch (e) {
    if (!sudo || (e as NodeJS.ErrnoException).code !== 'EACCES') return false
  }
  let out = ''
  const r = await runShell({script: `stat -c %a ${shq(f.dest)} && cat ${shq(f.dest)}`, sudo, timeoutMs: 60_000, onStdout: (t) => (out += t)})
  const nl = out.indexOf('\n')
  return r.code === 0 && nl > 0 && same(out.slice(nl + 1), Number.parseInt(out.slice(0, nl), 8))
}

/** Write the rendered file atomically; through sudo when the step needs root and the agent is not root. */
export async function writeRendered(f: RenderedFile, sudo: boolean): Promise<string | undefined> {
  const mode = f.mode ?? 0o644
  if (!sudo) {
    const tmp = join(dirname(f.dest), `.${basename(f.dest)}.fleet-tmp`)
    try {
      writeFileSync(tmp, f.content, {mode})
      chmodSync(tmp, mode)
      renameSync(tmp, f.dest)
      return undefined
    } catch (e) {
      return `cannot write ${f.dest}: ${(e as Error).message}`
    }
  }
  let err = ''
  const tmp = join(dirname(f.dest), `.${basename(f.dest)}.fleet-tmp`)
  const r = await runShell({
    script: `cat > ${shq(tmp)} && chmod ${shq(mode.toString(8))} ${shq(tmp)} && mv -f ${shq(tmp)} ${shq(f.dest)}`,
    sudo,
    timeoutMs: 60_000,
    stdin: f.content,
    onStderr: (t) => (err += t),
  })
  return r.code === 0 ? undefined : `cannot write ${f.dest} through sudo: ${err.trim() || `exit ${r.code}`}`
}
