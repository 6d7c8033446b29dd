import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {stateDirFlag, stateDirOf} from '../../src/command-kit/agent-flags.js'
import {exitCodeFor, followJournal} from '../../src/agent/follow.js'
import {lastRunId} from '../../src/agent/runs.js'
import {StateDir} from '../../src/agent/state-dir.js'
import {UserError} from '../../src/errors/user-error.js'

export default class AgentFollow extends BaseCommand {
  static summary = "Print a run's journal records as NDJSON and keep following until the run ends."
  static description = `Prints the records whose seq is greater than --from, then waits for more until the run's run-end record, and exits with the run's status: 0 ok, 1 failed, 3 interrupted (the run stopped without ending; start it again to resume), 5 abandoned, 6 the host's disk is full (start it again once there is space to resume).`
  static examples = ['<%= config.bin %> follow', '<%= config.bin %> follow --run 20261124T101500Z-1a2b3c --from 120']
  static flags = {
    run: Flags.string({description: 'The run to follow [default: the current or last run].'}),
    from: Flags.integer({description: 'Print only records after this seq.', default: 0, min: 0}),
    'state-dir': stateDirFlag,
    'no-wait': Flags.boolean({description: 'Print what is there now and exit (3 if the run is still going).'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(AgentFollow)
    const state = new StateDir(stateDirOf(flags))
    const run = flags.run ?? lastRunId(state)
    if (!run) throw new UserError(`No run has been started in ${state.root} yet.`, 2)
    const status = await followJournal(state, run, flags.from, (line) => process.stdout.write(line + '\n'), {once: flags['no-wait']})
    process.exitCode = exitCodeFor(status)
  }
}
