import {z} from 'zod'
import type {RunSummary} from './fold.js'

/**
 * The JSON answers of the agent's query commands, as fleet reads them: `agent
 * logs --json` and `agent status --json` (a RunSummary, or null for no run).
 * `agent start --json`'s answer is in start-answer.ts, the dry run's in
 * plan-answer.ts. The agent writes these types; fleet parses them with these
 * schemas, so an answer of the wrong shape is one clear sentence, not a crash.
 */

/** `agent logs --json`: where this host's logs are, for `fleet collect-logs`. */
export interface LogsAnswer {
  /** The agent's state dir (journals, step logs), absolute. */
  state_dir: string
  /** The playbook whose `logs:` were rendered, if any. */
  playbook?: string
  /** The vars file used to render them, if any. */
  vars?: string
  /** The playbook's `logs:` rendered for this host, absolute (relative ones are taken from the home folder). */
  paths: string[]
  /** Why `paths` is empty although a playbook was asked for (the state dir is still good). */
  error?: string
}

const absolute = z.string().startsWith('/')
const logsAnswer = z.object({state_dir: absolute, playbook: z.string().optional(), vars: z.string().optional(), paths: z.array(absolute), error: z.string().optional()})

/** The last line of `agent logs --json`'s output as a LogsAnswer; undefined when it is not one. */
export function parseLogsAnswer(stdout: string): LogsAnswer | undefined {
  const r = logsAnswer.safeParse(lastJson(stdout))
  return r.success ? r.data : undefined
}

/** `agent status --json`: the run's summary, or null when the state dir has no run. */
export type StatusAnswer = RunSummary | null

/** The run's state from the last JSON line of `agent status --json` output (e.g. its stderr in a poll); undefined when there is none. */
export function statusAnswerState(text: string): RunSummary['state'] | undefined {
  const r = z.object({state: z.string()}).safeParse(lastJson(text))
  return r.success ? (r.data.state as RunSummary['state']) : undefined
}

/** The last line of `text` that parses as JSON. */
function lastJson(text: string): unknown {
  for (const line of text.split('\n').reverse()) {
    const l = line.trim()
    if (!l.startsWith('{') && !l.startsWith('[') && l !== 'null') continue
    try {
      return JSON.parse(l)
    } catch {
      // not JSON after all; look further up
    }
  }
  return undefined
}
