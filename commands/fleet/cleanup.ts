import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {runFlags} from '../../src/command-kit/fleet-flags.js'
import {cleanupRequest} from '../../src/command-kit/run-request.js'
import {runOrDryRun} from '../../src/command-kit/fleet-run-command.js'

export default class Cleanup extends BaseCommand {
  static summary = 'Reset the room: run the playbook\'s undo on every host, all at once.'
  static description = `Runs "agent undo" on every host the way prepare runs the playbook: in parallel, detached, followed into the database, and shown by "fleet status". Each host undoes its applied steps, last first.

With a cache host in the hosts file (role=cache): the playbook is undone on the other hosts, then their cache settings (apt, pip, git), then the cache host itself unless --keep-cache.

--dry-run checks everything (hosts file if given, playbook, vars, --to-step), builds the bundle and lists its files with their sizes, and contacts no host.`
  static examples = ['<%= config.bin %> cleanup --hosts hosts.txt', '<%= config.bin %> cleanup --hosts hosts.txt --to-step infra', '<%= config.bin %> cleanup --dry-run --hosts hosts.txt']
  static flags = {
    ...runFlags,
    'to-step': Flags.string({description: 'Undo back to and including this step or phase.'}),
    'keep-cache': Flags.boolean({description: 'With a cache host in the hosts file: undo the playbook and the cache settings on the other hosts, but leave the cache host and what it holds (for the next room).'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Cleanup)
    const request = cleanupRequest(flags)
    process.exitCode = await runOrDryRun('cleanup', request, {dryRun: flags['dry-run'], json: flags.json})
  }
}
