import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {runFlags} from '../../src/command-kit/fleet-flags.js'
import {prepareRequest} from '../../src/command-kit/run-request.js'
import {runOrDryRun} from '../../src/command-kit/fleet-run-command.js'

export default class Prepare extends BaseCommand {
  static summary = 'Provision every host in the hosts file, all at once.'
  static description = `For each host, in parallel: connect (SSH), check it (OS, sudo, disk, Node.js), upload the agent and the playbook once per content hash, start the agent detached, and follow its journal into the database until it ends. A dropped connection is reconnected and followed on from the last stored record; running prepare again after it was killed re-attaches to the agents still running instead of starting new ones.

Everything is checked before any host is contacted: the hosts file (every problem, with its line), the playbook, the vars and the step names. The bundle holds the agent and exactly the files the playbook uses (the playbook, its templates, its "files:" list); a file that looks like a secret (a private key, an SQLite database, .env, known_hosts, AWS credentials) is refused. --dry-run does all of that, lists the bundle's files with their sizes, and stops there: no host contacted, no database created (--hosts is optional then).

With a cache host in the hosts file (role=cache): that host is prepared first (playbooks/cache.yaml: apt-cacher-ng, an nginx reverse-proxy cache, git daemon mirrors) and warmed with every artifact the playbook declares, then the other hosts are pointed at it (playbooks/cache-client.yaml: apt proxy, pip index, git insteadOf) and prepared, fetching through it; a host that finds the cache down fetches from upstream with a warning (cache_required: true in --cache-vars makes it fail instead). "fleet cache status" shows what it served.

Exit code 0 when every host finished ok, 1 otherwise (with a summary), 2 for bad input.`
  static examples = [
    '<%= config.bin %> prepare --hosts hosts.txt',
    '<%= config.bin %> prepare --hosts hosts.txt --steps preflight',
    '<%= config.bin %> prepare --hosts hosts.txt --only failed',
    '<%= config.bin %> prepare --hosts hosts.txt --canary 2 --max-errors 10%',
    '<%= config.bin %> prepare --hosts hosts.txt --playbook demo',
    '<%= config.bin %> prepare --dry-run --playbook room/room.yaml --vars room/vars.yaml',
    '<%= config.bin %> prepare --transport ssm --targets tag:Workshop=bifrost --region eu-west-1',
  ]
  static flags = {
    ...runFlags,
    steps: Flags.string({description: 'Run only these steps or phases on each host (comma-separated ids), e.g. "preflight".'}),
    'from-step': Flags.string({description: 'Start each host at this step or phase.'}),
    canary: Flags.integer({description: 'Run this many hosts to the end first; start the rest only if they are all ok.', min: 0}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Prepare)
    const request = prepareRequest(flags)
    process.exitCode = await runOrDryRun('prepare', request, {dryRun: flags['dry-run'], json: flags.json})
  }
}
