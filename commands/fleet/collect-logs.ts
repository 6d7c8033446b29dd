import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {hostsFlags, hostsOrTargetsFlag, hostsRequest, reachFlags} from '../../src/command-kit/fleet-flags.js'
import {collectLogs} from '../../src/logs/collect.js'
import {hostLine, summaryText} from '../../src/logs/report.js'

export default class CollectLogs extends BaseCommand {
  static summary = "Bring every host's logs home, one folder per host."
  static description = `For each host, in parallel over one connection (SSH, or Systems Manager commands for SSM hosts): ask the agent of the last fleet run (from the database) where its state dir is and what the playbook's \`logs:\` are on that host, then stream them home as tar.gz and extract them into OUT/HOST/. OUT/HOST/agent/ holds the agent's state dir (runs/RUN/journal.jsonl, runs/RUN/logs/STEP.log, ...); OUT/HOST/files/ holds the declared log paths under their full path (OUT/HOST/files/var/log/libvirt/...).

Declared paths are read through "sudo -n" when the login is not root and sudo needs no password, so root-only logs come too; paths missing on a host are listed, not fatal. Nothing a host sends can land outside its folder: absolute names, "..", links pointing out of the folder, hard links, devices and FIFOs are refused. Step logs and journals were redacted by the agent on the host; the declared log files, which come as they were, have the playbook's secret values (from the playbook and the run's vars file) replaced with ******** here before the command ends. The playbook and vars file that redaction uses are checked before any host is asked: one that cannot be read stops the command with nothing fetched.

--hosts gives the connection details (as for prepare; or --transport ssm --targets tag:KEY=VALUE); the database gives the last run and the recorded host keys.

Exit code 0 when every host's logs were collected, 1 otherwise (unreachable hosts are reported, the others still collected), 2 for bad input.`
  static examples = [
    '<%= config.bin %> collect-logs --hosts hosts.txt',
    '<%= config.bin %> collect-logs --hosts hosts.txt --host alice-lab,bob-lab --out ./logs/day1',
    '<%= config.bin %> collect-logs --hosts hosts.txt --tar --json',
    '<%= config.bin %> collect-logs --transport ssm --targets tag:Workshop=bifrost --region eu-west-1',
  ]
  static flags = {
    hosts: hostsOrTargetsFlag,
    ...reachFlags,
    vars: Flags.string({description: "The vars file whose secret values are redacted from the collected files [default: the one the last prepare used]."}),
    out: Flags.string({char: 'o', description: 'The folder to write, one sub-folder per host [default: ./fleet-logs/TIMESTAMP].'}),
    host: Flags.string({description: 'Only these hosts (comma-separated names from the hosts file).'}),
    tar: Flags.boolean({description: 'Also write OUT.tar.gz of the whole folder.'}),
    concurrency: hostsFlags.concurrency,
    'connect-timeout': hostsFlags['connect-timeout'],
    compress: hostsFlags.compress,
    json: Flags.boolean({description: 'Print {out, tar, run, hosts: [{name, ok, files, bytes, error, missing, refused, warnings}]} instead of lines.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(CollectLogs)
    const width = 12
    const summary = await collectLogs(
      {
        ...hostsRequest(flags),
        knownHosts: flags['known-hosts'],
        db: flags.db,
        vars: flags.vars,
        out: flags.out,
        hosts: flags.host,
        tar: flags.tar,
        concurrency: flags.concurrency,
        connectTimeoutMs: flags['connect-timeout'] * 1000,
        compress: flags.compress,
      },
      flags.json ? undefined : (h) => process.stdout.write(hostLine(h, width) + '\n'),
    )
    const {text, ok} = summaryText(summary)
    if (flags.json) this.printJson(summary)
    else process.stdout.write(text)
    process.exitCode = ok ? 0 : 1
  }
}
