import {dryRunFleet} from '../orchestrator/fleet-dry-run.js'
import {runRoom, type RoomRequest} from '../orchestrator/room-run.js'
import {Progress} from '../ui/progress.js'
import {printDryRun} from './fleet-dry-run.js'
import {printSummary} from './fleet-summary.js'

/**
 * What `fleet prepare` and `fleet cleanup` do once their flags are a request: the dry
 * run's listing, or the run with the terminal progress as a listener of its host
 * events (none with --json: the document is the output), then the summary. Returns the exit code.
 */
export async function runOrDryRun(verb: 'prepare' | 'cleanup' | 'cache warm', request: RoomRequest, opts: {dryRun: boolean; json: boolean}): Promise<number> {
  if (opts.dryRun) return printDryRun(verb, dryRunFleet(request), opts.json)
  const summary = await runRoom(request, opts.json ? undefined : (hosts) => [new Progress(hosts)])
  return printSummary(verb, summary, opts.json)
}
