import type {RunSummary} from '../protocol/index.js'

/** `agent status` for people: the run, then one line per step. */
export function renderRunSummary(s: RunSummary): string {
  const lines = [`run ${s.run} (${s.mode === 'undo' ? 'undo of ' : ''}playbook ${s.playbook.name}): ${s.state}`]
  lines.push(`started ${s.started}${s.ended ? `, ended ${s.ended}` : ''}`)
  if (s.current && s.state !== 'ok') lines.push(`current step: ${s.current.index}/${s.steps.length} ${s.current.id}: ${s.current.title}`)
  if (s.error) lines.push(`error: ${s.error}`)
  lines.push('')
  const w = Math.max(...s.steps.map((st) => st.id.length), 4)
  for (const st of s.steps) {
    const dur = st.duration_ms === undefined ? '' : `${(st.duration_ms / 1000).toFixed(1)}s`
    const extra = st.status === 'failed' && st.error ? `  ${st.error}` : st.reason ? `  (${st.reason})` : ''
    lines.push(`${String(st.index).padStart(3)}  ${st.id.padEnd(w)}  ${st.status.padEnd(8)} ${dur.padStart(7)}${extra}`)
  }
  return lines.join('\n') + '\n'
}
