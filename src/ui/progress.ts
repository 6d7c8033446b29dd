import type {HostEvent, HostListener} from '../events/host-events.js'
import {countStates, type HostState} from '../events/host-state.js'
import type {JournalRecord} from '../protocol/index.js'

/**
 * Live progress of a fleet run. On a terminal: one line redrawn in place with
 * the counts and a bar. Otherwise (CI, a pipe): plain lines as hosts change,
 * which a log keeps readable. NO_COLOR turns colour off; TERM=dumb too.
 * A listener of the run's host events.
 */
export class Progress implements HostListener {
  private readonly states = new Map<string, HostState>()
  private readonly tty: boolean
  private readonly color: boolean
  private timer?: NodeJS.Timeout
  private lastDraw = ''

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {
    this.tty = !!out.isTTY
    this.color = this.tty && !process.env.NO_COLOR && process.env.TERM !== 'dumb'
    if (this.tty) this.timer = setInterval(() => this.draw(), 200)
  }

  onEvent(e: HostEvent): void {
    if (e.kind === 'state') this.host(e.host.name, e.state, e.error ?? undefined)
    else if (e.kind === 'note') this.host(e.host.name, e.state, e.text)
    else if (e.kind === 'records') this.records(e.host.name, e.records)
    else if (e.kind === 'done') this.host(e.host.name, e.state, e.note)
  }

  close(): void {
    this.stop()
  }

  host(name: string, state: HostState, detail?: string): void {
    const before = this.states.get(name)
    this.states.set(name, state)
    if (!this.tty && (before !== state || detail)) this.line(`${name}: ${state}${detail ? ` (${detail})` : ''}`)
  }

  records(name: string, records: JournalRecord[]): void {
    if (this.tty) return
    for (const r of records) {
      if (r.type === 'step-start') this.line(`${name}: [${r.index}/${r.total}] ${r.step}`)
      else if (r.type === 'step-end' && r.status === 'failed') this.line(`${name}: ${r.step} failed: ${r.error ?? `exit code ${r.exit_code}`}`)
    }
  }

  message(text: string): void {
    if (this.tty) this.clear()
    this.out.write(text + '\n')
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    if (this.tty) {
      this.draw()
      this.out.write('\n')
    }
  }

  private counts(): Record<HostState, number> {
    const c = countStates(this.states.values())
    c.pending += this.total - this.states.size
    return c
  }

  private draw(): void {
    const c = this.counts()
    const done = c.ok + c.failed + c.unreachable
    const width = 30
    const filled = this.total ? Math.round((done / this.total) * width) : width
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled)
    const paint = (s: string, code: number) => (this.color ? `\x1b[${code}m${s}\x1b[0m` : s)
    const text = `[${bar}] ${done}/${this.total}  running ${c.running + c.connecting}  ${paint(`ok ${c.ok}`, 32)}  ${paint(`failed ${c.failed}`, 31)}  ${paint(`unreachable ${c.unreachable}`, 33)}  pending ${c.pending}`
    if (text === this.lastDraw) return
    this.lastDraw = text
    this.out.write(`\r\x1b[2K${text}`)
  }

  private clear(): void {
    this.out.write('\r\x1b[2K')
    this.lastDraw = ''
  }

  private line(text: string): void {
    this.out.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`)
  }
}
