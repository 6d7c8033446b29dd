import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {onlyOf, runFlags, stateDirOf} from '../../src/command-kit/agent-flags.js'
import {runInForeground} from '../../src/agent/invoke.js'

export default class AgentRun extends BaseCommand {
  static summary = 'Run a playbook on this host, in the foreground.'
  static description = `Runs each step in order: a step whose check passes is skipped, a failing step is retried as the playbook says, and every step's start, output and end go to the run's journal in the state dir. A run that was killed is resumed by the next run or start at the first step not journaled as done.

Exit codes: 0 all steps ok or skipped, 1 a step failed, 2 bad input (nothing was changed), 3 interrupted, 4 another run is going on, 5 abandoned, 6 the host's disk is full.`
  static examples = ['<%= config.bin %> run --playbook playbooks/demo.yaml', '<%= config.bin %> run -p workshop.yaml --vars room.yaml --only preflight --json']
  static flags = {
    ...runFlags,
    // fleet's way in over SSH: with --detached-child, the journal is streamed on fd 3 (see src/agent/invoke.ts).
    stream: Flags.boolean({hidden: true}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(AgentRun)
    process.exitCode = await runInForeground(
      {mode: 'run', playbookPath: flags.playbook, varsPath: flags.vars, stateDir: stateDirOf(flags), only: onlyOf(flags), fromStep: flags['from-step'], request: flags.request},
      {json: flags.json, dryRun: flags['dry-run'], detachedChild: flags['detached-child'], stream: flags.stream},
      (t) => process.stdout.write(t),
    )
  }
}
