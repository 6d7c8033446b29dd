import {closeSync, openSync, writeSync} from 'node:fs'
import {MAX_OUTPUT_CHARS} from '../protocol/index.js'
import type {JournalWriter} from './journal.js'
import {redact, StreamRedactor} from './redact.js'

type Stream = 'stdout' | 'stderr'

/**
 * Where one step's output goes: redacted, then in full to the step's log file
 * and in bounded chunks to the journal. Remembers the last non-empty line
 * (stderr preferred) as the step's error line.
 */
export class StepOutput {
  private readonly fd: number
  private readonly redactors: Record<Stream, StreamRedactor>
  private lastLine: Record<Stream, string> = {stdout: '', stderr: ''}
  private partial: Record<Stream, string> = {stdout: '', stderr: ''}

  constructor(
    logPath: string,
    private readonly journal: JournalWriter | undefined,
    private readonly step: string,
    private readonly secrets: readonly string[],
  ) {
    this.fd = openSync(logPath, 'a', 0o600)
    this.redactors = {stdout: new StreamRedactor(secrets), stderr: new StreamRedactor(secrets)}
  }

  /** A header line in the log file only (attempt numbers, check output markers). */
  note(text: string): void {
    writeSync(this.fd, `${text}\n`)
  }

  /** A check's whole output, once it ended: to the log file only, as a check's chatter is not progress. */
  quiet(text: string): void {
    if (text) writeSync(this.fd, redact(text, this.secrets))
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
    writeSync(this.fd, text)
    this.trackLastLine(stream, text)
    if (!this.journal) return
    for (let i = 0; i < text.length; i += MAX_OUTPUT_CHARS) {
      this.journal.append({type: 'output', step: this.step, stream, data: text.slice(i, i + MAX_OUTPUT_CHARS)})
    }
  }

  private trackLastLine(stream: Stream, text: string): void {
    const lines = (this.partial[stream] + text).split('\n')
    this.partial[stream] = lines.pop() ?? ''
    const candidates = [...lines, this.partial[stream]].map((l) => l.trim()).filter(Boolean)
    if (candidates.length) this.lastLine[stream] = candidates[candidates.length - 1]
  }
}
