import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {dbFlag, jsonFlag} from '../../src/command-kit/fleet-flags.js'
import {showStatus} from '../../src/ui/status-command.js'

export default class Status extends BaseCommand {
  static summary = 'Where every host is, at a glance; or one host in depth.'
  static description = `A line of counts (pending, connecting, running, ok, failed, unreachable), then one row per host: its current step "k/N title", state, elapsed time and last error line. Identical errors on several hosts are grouped. --host shows that host's steps with durations and the last lines of its failing step.

Exit code 0 when every host is ok, 1 otherwise.`
  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --host alice-lab', '<%= config.bin %> status --json | jq .counts', '<%= config.bin %> status --watch']
  static flags = {
    db: dbFlag,
    host: Flags.string({description: "Show this host's steps and the tail of its failing step's log."}),
    json: jsonFlag,
    watch: Flags.boolean({description: 'Refresh every second until every host is done (Ctrl-C stops).'}),
    lines: Flags.integer({description: 'Log lines to show with --host.', default: 20, min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Status)
    process.exitCode = await showStatus(flags, (t) => process.stdout.write(t))
  }
}
