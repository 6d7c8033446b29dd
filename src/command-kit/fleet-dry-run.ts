import {bundleDir} from '../protocol/remote-layout.js'
import type {FleetDryRun} from '../orchestrator/fleet-dry-run.js'
import {columns} from '../ui/columns.js'

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** `fleet prepare --dry-run` / `fleet cleanup --dry-run`: the bundle's files with their sizes, the total, the hosts and steps. */
export function printDryRun(verb: string, d: FleetDryRun, json: boolean): number {
  if (json) {
    process.stdout.write(JSON.stringify(d) + '\n')
    return 0
  }
  const hosts =
    d.hosts !== null ? `${d.hosts} host${d.hosts === 1 ? '' : 's'} (${d.hosts_source})` : d.hosts_source ? `the hosts of ${d.hosts_source} (not resolved in a dry run)` : 'no hosts file given'
  const playbook = d.bundle.files.filter((f) => f.path.startsWith('playbooks/'))
  const agent = d.bundle.files.filter((f) => !f.path.startsWith('playbooks/'))
  const agentBytes = agent.reduce((n, f) => n + f.bytes, 0)
  const width = String(d.bundle.bytes).length
  const rows = [...playbook.map((f) => [String(f.bytes).padStart(width), size(f.bytes), f.path]), [String(agentBytes).padStart(width), size(agentBytes), `the agent: ${agent.length} files (agent.mjs, the entry; agent-main.mjs, the agent; liquid.mjs, for templates)`]]
  const lines = [
    `Dry run of fleet ${verb}: playbook ${d.playbook.name} (${d.playbook.path}), ${d.steps} step${d.steps === 1 ? '' : 's'}, ${hosts}. No host was contacted and no database written.`,
    `Bundle ${d.bundle.hash}: ${d.bundle.files.length} files, ${d.bundle.bytes} bytes (${size(d.bundle.bytes)}), into ~/${bundleDir(d.bundle.hash)}/ on each host:`,
    columns(['bytes'.padStart(width), 'size', 'file'], rows)
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
    `Total: ${d.bundle.bytes} bytes (${size(d.bundle.bytes)}); sent as one gzipped tar of ${d.bundle.gzip_bytes} bytes (${size(d.bundle.gzip_bytes)}) to a host with gzip.`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}
