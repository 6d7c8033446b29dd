import {startDetached, startDetachedRun} from './detach.js'
import {exitCodeFor, followRun} from './follow.js'
import type {RunRequest, StartOutcome} from './run.js'
import {StateDir} from './state-dir.js'
import {UserError} from '../errors/user-error.js'
import {startAnswerLine} from '../protocol/start-answer.js'
import {EXIT} from '../protocol/exit-codes.js'
import {noSpaceMessage} from '../protocol/no-space.js'

/*
 * `agent start` (and `agent undo --detach`) without loading the playbook: the
 * detached run loads and validates it, and a refusal comes back over the
 * handshake. Kept apart from invoke.ts so this path never loads YAML, templating
 * or the playbook schema; fleet starts every host's agent this way.
 */

type Print = (text: string) => void

/** `agent start`: run detached and report the run id; the detached run validates the input and its refusal comes back here, where the user sees it. */
export async function startInBackground(req: Pick<RunRequest, 'stateDir'>, runArgs: string[], json: boolean, print: Print): Promise<number> {
  const answer = await startDetached(new StateDir(req.stateDir), runArgs)
  if (answer.kind === 'error') throw new UserError(answer.message, answer.exitCode)
  if (json) print(startAnswerLine(answer) + '\n')
  else if (answer.kind === 'already-running') print(`A run is already going on this host: ${answer.run} (pid ${answer.pid}).\n${answer.run}\n`)
  else if (answer.kind === 'ended') print(`Run ${answer.run} of this request has ended already; see it with: agent status --run ${answer.run}\n`)
  else print(`${answer.kind === 'resumed' ? 'Resumed' : 'Started'} run ${answer.run}; follow it with: agent follow --run ${answer.run}\n`)
  return 0
}

/**
 * `agent start --follow`: start the run detached (or find the one going on), print
 * the answer as `agent start` does, then follow that run's journal from its
 * beginning in this same process, as `agent follow --run ID` would, and exit with
 * follow's status. One process where start + follow took two: fleet starts every
 * host's agent this way, which saves a Node.js start-up per host. A run the full
 * disk ended ends this with its sentence (EXIT.noSpace), as `agent run` does.
 */
export async function startAndFollow(req: Pick<RunRequest, 'stateDir'>, runArgs: string[], json: boolean, print: Print): Promise<number> {
  const state = new StateDir(req.stateDir)
  const detached = await startDetachedRun(state, runArgs)
  const answer = detached.answer
  if (answer.kind === 'error') throw new UserError(answer.message, answer.exitCode)
  if (!answer.run) throw new UserError(`A run is already going on this host${answer.kind === 'already-running' ? ` (pid ${answer.pid})` : ''} and has no run id yet; follow it with "agent follow".`, EXIT.busy)
  if (json) print(startAnswerLine(answer) + '\n')
  else print(`${startedHow(answer)}\n`)
  const end = await followRun(state, answer.run, 0, (line) => print(line + '\n'))
  if (end.status === 'no-space') throw new UserError(end.error ?? noSpaceMessage(state.root), EXIT.noSpace)
  // The disk did not even take the run's end: only the run's exit code tells (when it is ours to see).
  if (end.status === 'interrupted' && answer.kind !== 'already-running' && (await detached.exitCode(2000)) === EXIT.noSpace) throw new UserError(noSpaceMessage(state.root), EXIT.noSpace)
  return exitCodeFor(end.status)
}

function startedHow(answer: StartOutcome): string {
  switch (answer.kind) {
    case 'already-running':
      return `A run is already going on this host: ${answer.run} (pid ${answer.pid}); following it.`
    case 'ended':
      return `Run ${answer.run} of this request has ended already; its journal follows.`
    default:
      return `${answer.kind === 'resumed' ? 'Resumed' : 'Started'} run ${answer.run}; following it.`
  }
}
