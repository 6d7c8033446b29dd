import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/base-command.js'
import {fleetRunRequest, runFlags} from '../../src/cli/fleet-flags.js'
import {printSummary} from '../../src/cli/fleet-summary.js'
import {printDryRun} from '../../src/cli/fleet-dry-run.js'
import {dryRunFleet} from '../../src/orchestrator/fleet-dry-run.js'
import {runFleet} from '../../src/orchestrator/fleet-run.js'
import {Progress} from '../../src/ui/progress.js'

export default class Cleanup extends BaseCommand {
  static summary = 'Reset the room: run the playbook\'s undo on every host, all at once.'
  static description = `Runs "agent undo" on every host the way prepare runs the playbook: in parallel, detached, followed into the database, and shown by "fleet status". Each host undoes its applied steps, last first.

--dry-run checks everything (hosts file if given, playbook, vars, --to-step), builds the bundle and lists its files with their sizes, and contacts no host.`
  static examples = ['<%= config.bin %> cleanup --hosts hosts.txt', '<%= config.bin %> cleanup --hosts hosts.txt --to-step infra', '<%= config.bin %> cleanup --dry-run --hosts hosts.txt']
  static flags = {
    ...runFlags,
    'to-step': Flags.string({description: 'Undo back to and including this step or phase.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Cleanup)
    const request = {...fleetRunRequest(flags, 'undo'), toStep: flags['to-step']}
    if (flags['dry-run']) {
      process.exitCode = printDryRun('cleanup', dryRunFleet(request), flags.json)
      return
    }
    const summary = await runFleet(
      request,
      flags.json ? undefined : (n) => new Progress(n),
    )
    process.exitCode = printSummary('cleanup', summary, flags.json)
  }
}
