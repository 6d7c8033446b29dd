import {Flags} from '@oclif/core'
import {BaseCommand} from '../../../src/command-kit/base-command.js'
import {hostsFlags, hostsRequest, reachFlags} from '../../../src/command-kit/fleet-flags.js'
import {cacheStatus} from '../../../src/orchestrator/cache-status.js'
import {cacheStatusText} from '../../../src/ui/cache-status-view.js'

export default class CacheStatus extends BaseCommand {
  static summary = "What the room cache served: requests, hits and bytes per protocol, and its disk."
  static description = `Asks the cache host of the hosts file (role=cache) for its servers' own figures: for HTTP (pip, images, other files through nginx) and apt (apt-cacher-ng), the requests the hosts made, how many the cache answered itself, the bytes it sent to hosts and the bytes it fetched upstream; for git, the clones and fetches it served. Then each cache's disk use against its cap: a full one says so ("not caching new objects"). Read-only.`
  static examples = ['<%= config.bin %> cache status --hosts hosts.txt', '<%= config.bin %> cache status --hosts hosts.txt --json']
  static flags = {
    hosts: hostsFlags.hosts,
    ...reachFlags,
    'cache-vars': Flags.string({description: 'The --cache-vars file prepare was given (where the cache keeps its files, its disk cap).'}),
    'connect-timeout': hostsFlags['connect-timeout'],
    json: Flags.boolean({description: 'Print {host, address, figures: {http, apt, git, disk}, full: {apt, http}} instead of a table.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(CacheStatus)
    const status = await cacheStatus({...hostsRequest(flags), db: flags.db, knownHosts: flags['known-hosts'], cacheVars: flags['cache-vars'], connectTimeoutMs: flags['connect-timeout'] * 1000})
    if (flags.json) return this.printJson(status)
    process.stdout.write(cacheStatusText(status.host, status.address, status.figures))
  }
}
