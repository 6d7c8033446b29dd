import {closeSync, openSync} from 'node:fs'
import {MAX_OUTPUT_CHARS} from '../protocol/constants.js'
import {DiskFullError, onDisk, writeAll} from './disk-full.js'
import type {JournalWriter} from './journal.js'
import {redact, StreamRedactor} from './redact.js'

type Stream = 'stdout' | 'stderr'

/**
 * Where one step's output goes: redacted, then in full to the step's log file
 * and in bounded chunks to the journal. Remembers the last non-empty line
 * (stderr preferred) as the step's error line.
 *
 * A full disk under the log or the journal is the step's end: the first such
 * write is kept as `fault`, `signal` aborts (the running command is killed), and
 * output after it is dropped. note() and quiet(), called in the step's own flow,
 * also throw it; output arrives in the command's pipe callbacks, which must not.
 */
export class StepOutput {
  private readonly fd: number
  private readonly abort = new AbortController()
  fault: DiskFullError | undefined
  private readonly redactors: Record<Stream, StreamRedactor>
  private lastLine: Record<Stream, string> = {stdout: '', stderr: ''}
  private partial: Record<Stream, string> = {stdout: '', stderr: ''}

  constructor(
    private readonly logPath: string,
    private readonly journal: JournalWriter | undefined,
    private readonly step: string,
    private readonly secrets: readonly string[],
  ) {
    this.fd = onDisk(logPath, () => openSync(logPath, 'a', 0o600))
    this.redactors = {stdout: new StreamRedactor(secrets), stderr: new StreamRedactor(secrets)}
  }

  /** Aborted when a write found the disk full: the step's command is to stop. */
  get signal(): AbortSignal {
    return this.abort.signal
  }

  /** A header line in the log file only (attempt numbers, check output markers). */
  note(text: string): void {
    this.guard(() => writeAll(this.fd, `${text}\n`, this.logPath))
    if (this.fault) throw this.fault
  }

  /** A check's whole output, once it ended: to the log file only, as a check's chatter is not progress. */
  quiet(text: string): void {
    if (text) this.guard(() => writeAll(this.fd, redact(text, this.secrets), this.logPath))
    if (this.fault) throw this.fault
  }

  write(stream: Stream, text: string): void {
    this.emit(stream, this.redactors[stream].push(text))
  }

  /** Flush what the redactors held back; call when the command ended. */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) this.emit(stream, this.redactors[stream].end())
  }

  errorLine(): string | undefined {
    const line = this.lastLine.stderr || this.lastLine.stdout
    return line ? line.slice(0, 500) : undefined
  }

  close(): void {
    this.flush()
    closeSync(this.fd)
  }

  private emit(stream: Stream, text: string): void {
    if (!text) return
    this.guard(() => {
      writeAll(this.fd, text, this.logPath)
      this.trackLastLine(stream, text)
      if (!this.journal) return
      for (let i = 0; i < text.length; i += MAX_OUTPUT_CHARS) {
        this.journal.append({type: 'output', step: this.step, stream, data: text.slice(i, i + MAX_OUTPUT_CHARS)})
      }
    })
  }

  /** Run a write unless the disk was found full; the first DiskFullError becomes the fault and stops the command. */
  private guard(write: () => void): void {
    if (this.fault) return
    try {
      write()
    } catch (e) {
      if (!(e instanceof DiskFullError)) throw e
      this.fault = e
      this.abort.abort()
    }
  }

  private trackLastLine(stream: Stream, text: string): void {
    const lines = (this.partial[stream] + text).split('\n')
    this.partial[stream] = lines.pop() ?? ''
    const candidates = [...lines, this.partial[stream]].map((l) => l.trim()).filter(Boolean)
    if (candidates.length) this.lastLine[stream] = candidates[candidates.length - 1]
  }
}
