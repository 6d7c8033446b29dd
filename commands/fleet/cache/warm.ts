import {BaseCommand} from '../../../src/command-kit/base-command.js'
import {fleetRunRequest, runFlags} from '../../../src/command-kit/fleet-flags.js'
import {runOrDryRun} from '../../../src/command-kit/fleet-run-command.js'

export default class CacheWarm extends BaseCommand {
  static summary = "Fetch the playbook's artifacts and repositories into the room cache again, now."
  static description = `On the cache host of the hosts file (role=cache): every git mirror fetched from upstream and every artifact the playbook declares (its "artifacts:") fetched through the cache and checked against its checksum file, however fresh they are. An object whose checksum does not match is taken out of the cache and named; the command then fails. The other hosts are not contacted. fleet prepare warms the cache by itself when it is older than an hour; this is for a room that starts later, or after an upstream changed.`
  static examples = ['<%= config.bin %> cache warm --hosts hosts.txt', '<%= config.bin %> cache warm --hosts hosts.txt --playbook room.yaml --cache-vars cache.yaml']
  static flags = runFlags

  async run(): Promise<void> {
    const {flags} = await this.parse(CacheWarm)
    process.exitCode = await runOrDryRun('cache warm', {...fleetRunRequest(flags, 'run'), rewarm: true}, {dryRun: flags['dry-run'], json: flags.json})
  }
}
