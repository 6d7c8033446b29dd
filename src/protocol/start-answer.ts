/**
 * The first line of `agent start --json` and of the streaming run fleet starts:
 * which run it is and how it began, or why the agent refused to start one.
 * Written by the agent, read by the orchestrator.
 */
export type StartAnswer = {run?: string; status: 'started' | 'resumed' | 'ended' | 'already-running'; pid?: number} | {error: string; exit_code: number}

/**
 * How a start went, as the agent knows it (its StartOutcome). `ended`: a start
 * with the --request of a run that has ended since is answered with that run (its
 * journal holds it all); nothing new runs.
 */
export type StartKind = {kind: 'started' | 'resumed' | 'ended'; run: string} | {kind: 'already-running'; run?: string; pid: number}

export function startAnswerLine(o: StartKind): string {
  const answer: StartAnswer = {run: o.run, status: o.kind, ...(o.kind === 'already-running' ? {pid: o.pid} : {})}
  return JSON.stringify(answer)
}

export function refusalLine(message: string, exitCode: number): string {
  const answer: StartAnswer = {error: message, exit_code: exitCode}
  return JSON.stringify(answer)
}

/** The run id or the refusal in an answer line; undefined when the line is neither (a bug or a foreign program on the host). */
export function parseStartAnswer(line: string): {run: string} | {error: string} | undefined {
  let answer: {run?: unknown; error?: unknown}
  try {
    answer = JSON.parse(line) as {run?: unknown; error?: unknown}
  } catch {
    return undefined
  }
  if (typeof answer?.run === 'string') return {run: answer.run}
  if (typeof answer?.error === 'string') return {error: answer.error}
  return undefined
}
