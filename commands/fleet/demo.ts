import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {printSummary} from '../../src/command-kit/fleet-summary.js'
import {runDemo} from '../../src/demo/run-demo.js'

export default class Demo extends BaseCommand {
  static summary = 'Run fleet on a local room: N real SSH hosts on this machine, prepared with the demo playbook.'
  static description = `Starts N OpenSSH servers on loopback addresses (127.77.x.y), each logging in as its own user with its own home and passwordless sudo, runs "fleet prepare" with playbooks/demo.yaml on all of them, shows "fleet status", and stops the hosts again. Needs root (it makes the users) and openssh-server (apt-get install openssh-server).`
  static examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --hosts 20']
  static flags = {
    hosts: Flags.integer({char: 'n', description: 'How many local hosts.', default: 5, min: 1, max: 500}),
    db: Flags.string({description: 'Where to keep the record [default: a new temporary folder].'}),
    concurrency: Flags.integer({char: 'c', description: 'Hosts in flight at once.', default: 32, min: 1}),
    keep: Flags.boolean({description: 'Keep the hosts running until Ctrl-C.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Demo)
    const {summary} = await runDemo({hosts: flags.hosts, db: flags.db, concurrency: flags.concurrency, keep: flags.keep, print: (t) => process.stdout.write(t)})
    process.exitCode = printSummary('demo', summary, false)
  }
}
