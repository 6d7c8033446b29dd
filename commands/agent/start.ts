import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {runArgs, runFlags, stateDirOf} from '../../src/command-kit/agent-flags.js'
import {startAndFollow, startInBackground} from '../../src/agent/invoke-start.js'

export default class AgentStart extends BaseCommand {
  static summary = 'Start a run detached from the terminal and return its run id at once.'
  static description = `The run goes on in its own session with stdin closed, so closing the SSH session that started it does not stop it; its records go to the journal (watch them with "agent follow"). If a run is already going on this host, says so and prints that run's id instead of starting a second one. An unfinished run with the same playbook, vars and selection is resumed.`
  static examples = ['<%= config.bin %> start --playbook playbooks/demo.yaml --json', '<%= config.bin %> start --playbook playbooks/demo.yaml --json --follow']
  static flags = {
    ...runFlags,
    follow: Flags.boolean({description: 'Then follow the run here, as "agent follow --run ID" does: its journal records as NDJSON after the start line, and exit with its status.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(AgentStart)
    if (flags['dry-run']) this.error('--dry-run is for "agent run"; a dry run has nothing to detach.', {exit: 2})
    process.exitCode = await (flags.follow ? startAndFollow : startInBackground)(
      {stateDir: stateDirOf(flags)},
      runArgs(flags, 'run'),
      flags.json,
      (t) => process.stdout.write(t),
    )
  }
}
