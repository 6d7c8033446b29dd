import {BaseCommand} from '../../src/cli/base-command.js'
import {onlyOf, runArgs, runFlags, stateDirOf} from '../../src/cli/agent-flags.js'
import {startInBackground} from '../../src/agent/invoke.js'

export default class AgentStart extends BaseCommand {
  static summary = 'Start a run detached from the terminal and return its run id at once.'
  static description = `The run goes on in its own session with stdin closed, so closing the SSH session that started it does not stop it; its records go to the journal (watch them with "agent follow"). If a run is already going on this host, says so and prints that run's id instead of starting a second one. An unfinished run with the same playbook, vars and selection is resumed.`
  static examples = ['<%= config.bin %> start --playbook playbooks/demo.yaml --json']
  static flags = runFlags

  async run(): Promise<void> {
    const {flags} = await this.parse(AgentStart)
    const stateDir = stateDirOf(flags)
    if (flags['dry-run']) this.error('--dry-run is for "agent run"; a dry run has nothing to detach.', {exit: 2})
    process.exitCode = await startInBackground(
      {mode: 'run', playbookPath: flags.playbook, varsPath: flags.vars, stateDir, only: onlyOf(flags), fromStep: flags['from-step']},
      runArgs(flags, 'run'),
      flags.json,
      (t) => process.stdout.write(t),
    )
  }
}
