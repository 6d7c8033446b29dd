import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {runArgs, runFlags, stateDirOf} from '../../src/command-kit/agent-flags.js'
import {runInForeground} from '../../src/agent/invoke.js'
import {startInBackground} from '../../src/agent/invoke-start.js'

export default class AgentUndo extends BaseCommand {
  static summary = 'Undo the applied steps of a playbook, last first.'
  static description = `Runs the "undo" of every step that is applied, in reverse order, down to --to-step. A step with a check is applied when its check passes; a step without one when the journals say it ran. Journaled like a run, so "agent follow" and "agent status" show it.`
  static examples = ['<%= config.bin %> undo --playbook playbooks/demo.yaml', '<%= config.bin %> undo -p workshop.yaml --to-step infra --detach']
  static flags = {
    playbook: runFlags.playbook,
    vars: runFlags.vars,
    'state-dir': runFlags['state-dir'],
    'to-step': Flags.string({description: 'Undo back to and including this step (or the first step of this phase).'}),
    'dry-run': runFlags['dry-run'],
    json: runFlags.json,
    detach: Flags.boolean({description: 'Run detached like "agent start" and print the run id.'}),
    'detached-child': runFlags['detached-child'],
    request: runFlags.request,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(AgentUndo)
    const req = {mode: 'undo' as const, playbookPath: flags.playbook, varsPath: flags.vars, stateDir: stateDirOf(flags), toStep: flags['to-step'], request: flags.request}
    const print = (t: string) => process.stdout.write(t)
    process.exitCode = flags.detach
      ? await startInBackground(req, runArgs(flags, 'undo', flags['to-step']), flags.json, print)
      : await runInForeground(req, {json: flags.json, dryRun: flags['dry-run'], detachedChild: flags['detached-child']}, print)
  }
}
