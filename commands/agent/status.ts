import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {stateDirFlag, stateDirOf} from '../../src/command-kit/agent-flags.js'
import {lastRunId, summarizeRun} from '../../src/agent/runs.js'
import {StateDir} from '../../src/agent/state-dir.js'
import {renderRunSummary} from '../../src/agent/status-text.js'
import {UserError} from '../../src/errors/user-error.js'

export default class AgentStatus extends BaseCommand {
  static summary = 'Show the current or last run: state, current step, per-step results.'
  static description = `Read from the run's journal in the state dir; nothing is changed. The state is running, rebooting, ok, failed, abandoned (replaced by a run with other inputs), or interrupted (the agent stopped without ending the run: the next "agent start" with the same inputs resumes it).

--json prints the summary as one JSON object, or null when no run has been started in the state dir yet. A --run that is not there is an error (exit 2), with --json too.`
  static flags = {
    run: Flags.string({description: 'Show this run instead of the last one.'}),
    'state-dir': stateDirFlag,
    json: Flags.boolean({description: 'Print the summary as JSON.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(AgentStatus)
    const state = new StateDir(stateDirOf(flags))
    const run = flags.run ?? lastRunId(state)
    const summary = run ? summarizeRun(state, run) : undefined
    if (!summary) {
      // No run yet is an answer (null); a run asked for by name that is not there is a mistake.
      if (flags.json && !flags.run) return this.printJson(null)
      throw new UserError(run ? `Run ${run} has no journal in ${state.root}.` : `No run has been started in ${state.root} yet.`, 2)
    }
    if (flags.json) this.printJson(summary)
    else process.stdout.write(renderRunSummary(summary))
  }
}
