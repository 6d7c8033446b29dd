import type {JournalRecord} from '../protocol/index.js'

function secs(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`
}

/**
 * Human progress for `agent run`: one line per step start and end, the
 * step's output indented under it. Output records end wherever a read of the
 * step's pipe ended, so a line split across two records is held until its end
 * (per stream), and a step's unfinished last line is printed before what
 * follows it. Returns the text to print (may be empty).
 */
export class HumanOutput {
  private partial = new Map<string, string>()

  text(r: JournalRecord): string {
    if (r.type === 'output') {
      const lines = ((this.partial.get(r.stream) ?? '') + r.data).split('\n')
      this.partial.set(r.stream, lines.pop()!)
      return lines.map((l) => `    | ${l}\n`).join('')
    }
    const rest = [...this.partial.values()].filter((l) => l !== '').map((l) => `    | ${l}\n`).join('')
    this.partial.clear()
    return rest + humanLine(r)
  }
}

function humanLine(r: JournalRecord): string {
  switch (r.type) {
    case 'run-start':
      return `run ${r.run}: ${r.mode === 'undo' ? 'undo of ' : ''}playbook ${r.playbook.name}, ${r.plan.length} steps on ${r.facts.hostname} (${r.facts.os.pretty_name})\n`
    case 'run-resume':
      return `run ${r.run}: resumed${r.done.length ? `; ${r.done.length} steps already done` : ''}\n`
    case 'step-start':
      return `[${r.index}/${r.total}] ${r.action === 'undo' ? 'undo ' : ''}${r.step}: ${r.title}\n`
    case 'output':
      return '' // HumanOutput.text
    case 'step-retry':
      return `    attempt ${r.attempt} failed (${r.error ?? `exit ${r.exit_code}`}); retrying in ${secs(r.delay_ms)}\n`
    case 'step-end': {
      const why = r.reason === 'check' ? ' (already done)' : r.reason === 'when' ? ' (condition false)' : r.reason === 'not-applied' ? ' (nothing to undo)' : ''
      const err = r.status === 'failed' ? `: ${r.error ?? `exit ${r.exit_code}`}` : ''
      return `    ${r.status}${why} in ${secs(r.duration_ms)}${err}\n`
    }
    case 'reboot':
      return `    rebooting the host; the run resumes after the boot\n`
    case 'run-end':
      return `run ${r.run}: ${r.status}${r.error ? ` (${r.error})` : ''} after ${secs(r.duration_ms)}\n`
  }
}
