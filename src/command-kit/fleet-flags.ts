import {Flags} from '@oclif/core'

export const dbFlag = Flags.string({description: "The instructor's SQLite record of the room.", env: 'FLEET_DB', default: './fleet.db'})
export const jsonFlag = Flags.boolean({description: 'Print JSON for scripts instead of tables.'})

/** Flags shared by the commands that reach hosts (prepare, cleanup). */
export const hostsFlags = {
  hosts: Flags.string({char: 'H', required: true, description: 'The hosts file: one `[user@]address[:port] [name=..] [identity=..] [jump=..]` per line, or an Ansible INI inventory.'}),
  user: Flags.string({description: 'Login user for hosts that name none (after ~/.ssh/config).', default: 'ubuntu'}),
  identity: Flags.string({char: 'i', description: 'Private key for hosts that name none.'}),
  port: Flags.integer({description: 'SSH port for hosts that name none.'}),
  'known-hosts': Flags.string({description: "An OpenSSH known_hosts file to check host keys against (first-seen keys are recorded in the database either way)."}),
  db: dbFlag,
  playbook: Flags.string({char: 'p', description: 'A playbook name from playbooks/ or a path to a .yaml file.', default: 'workshop'}),
  vars: Flags.string({description: "A YAML file of values for the playbook's vars (sent to each host, mode 0600)."}),
  concurrency: Flags.integer({char: 'c', description: 'Hosts in flight at once.', default: 32, min: 1}),
  'max-errors': Flags.string({description: 'Stop starting new hosts once this many failed: a number or a percentage (e.g. 3 or 10%).'}),
  only: Flags.string({description: 'Only these hosts: "failed" (failed or unreachable last time) or NAME,NAME,...'}),
  'connect-timeout': Flags.integer({description: 'Seconds to connect and log in before a host counts as unreachable (SSM hosts: to pick up a command).', default: 15, min: 1}),
  compress: Flags.boolean({description: 'Compress SSH traffic (the bundle always goes gzipped to a host with gzip; this compresses the rest too: journals, logs).'}),
  runtime: Flags.string({
    description: "Which Node.js runs the agent: auto = the host's own when it is 18 or newer, else fleet's pinned runtime; managed = always fleet's. A host downloads the runtime itself (checksum-verified); only when it cannot is it uploaded from here.",
    options: ['auto', 'managed'],
    default: 'auto',
  }),
  'runtime-mirror': Flags.string({description: 'An npm registry (or mirror) the hosts download the Node.js runtime from.', default: 'https://registry.npmjs.org'}),
  json: jsonFlag,
}

/** Hosts in AWS, reached through Systems Manager (prepare, cleanup, collect-logs). */
export const ssmFlags = {
  transport: Flags.string({
    description: 'ssm: the hosts are instances reached through AWS Systems Manager (instance ids in --hosts, or --targets) [default: per hosts-file line: ssm for an instance id, else ssh].',
    options: ['ssh', 'ssm'],
  }),
  targets: Flags.string({description: 'With --transport ssm, instead of --hosts: every managed instance with this tag, e.g. tag:Workshop=bifrost (tag:KEY=V1,V2 for several values).'}),
  region: Flags.string({description: 'AWS region of the SSM instances [default: AWS_REGION, else the profile\'s region in ~/.aws/config].'}),
  profile: Flags.string({description: 'AWS profile for credentials and region [default: AWS_PROFILE, else "default"].'}),
}

/** How to reach the hosts of --hosts, for commands that read from hosts rather than provision them (collect-logs, cache status). */
export const reachFlags = {
  ...ssmFlags,
  user: hostsFlags.user,
  identity: hostsFlags.identity,
  port: hostsFlags.port,
  'known-hosts': hostsFlags['known-hosts'],
  db: hostsFlags.db,
}

/** --hosts, or --transport ssm --targets instead of it (collect-logs). */
export const hostsOrTargetsFlag = Flags.string({char: 'H', description: `${hostsFlags.hosts.description} Not needed with --transport ssm --targets.`})

/** prepare, cleanup: --hosts, or --transport ssm --targets instead of it; --dry-run. */
export const runFlags = {
  ...hostsFlags,
  hosts: Flags.string({char: 'H', description: `${hostsFlags.hosts.description} Not needed with --transport ssm --targets; optional with --dry-run.`}),
  ...ssmFlags,
  'cache-vars': Flags.string({description: "With a cache host in the hosts file (role=cache): a YAML file of the room cache's settings (ports, disk cap, cache_required, the paths it writes on hosts); each var goes to the cache playbook that declares it (playbooks/cache.yaml on the cache host, playbooks/cache-client.yaml on the others)."}),
  'dry-run': Flags.boolean({description: "Check everything as a run would (hosts file if given, playbook, vars, step names), build the bundle and list its files with their sizes; contact no host and create no database."}),
}

// From these flags to a run's request: without oclif, for the fast path too.
export {fleetRunRequest, hostsRequest} from './run-request.js'
