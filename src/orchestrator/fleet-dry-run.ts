import {bundleTar} from './bundle.js'
import {checkInputs, selectHosts, type FleetRunRequest} from './fleet-run.js'
import {cacheHostOf, noCacheHost} from './room-run.js'

/** `fleet prepare --dry-run` / `fleet cleanup --dry-run`: what would be sent, and to how many hosts. */
export interface FleetDryRun {
  dry_run: true
  mode: 'run' | 'undo'
  playbook: {name: string; path: string}
  /** Steps the agent would run (after --steps / --from-step / --to-step). */
  steps: number
  /** Hosts in the hosts file (after --only NAME,...); null without --hosts, or for --targets (not resolved in a dry run). */
  hosts: number | null
  hosts_source?: string
  bundle: {
    hash: string
    bytes: number
    /** What goes over the wire to a host that has gzip: the bundle as one gzipped tar. */
    gzip_bytes: number
    /** Every file with its path inside the bundle: the agent's, then the playbook's under playbooks/. */
    files: Array<{path: string; bytes: number}>
  }
}

/**
 * Everything prepare/cleanup checks before contacting a host, and the bundle
 * built, but no host contacted (SSM targets are not resolved either) and no
 * database opened or created.
 */
export function dryRunFleet(req: FleetRunRequest & {rewarm?: boolean}): FleetDryRun {
  const {hostsInput, playbookPath, plan, bundle} = checkInputs(req, {hostsOptional: true})
  const inventory = hostsInput?.inventory
  // `fleet cache warm` refuses a room without a cache host: its dry run says so too (SSM targets are not resolved here).
  if (req.rewarm && inventory && !cacheHostOf(inventory.hosts)) throw noCacheHost(hostsInput!.label)
  const hosts = inventory ? (req.onlyHosts && req.onlyHosts !== 'failed' ? selectHosts(inventory.hosts, req.onlyHosts).length : inventory.hosts.length) : null
  return {
    dry_run: true,
    mode: req.mode,
    playbook: {name: plan.playbook, path: playbookPath},
    steps: plan.steps.length,
    hosts,
    hosts_source: hostsInput?.label,
    bundle: {hash: bundle.hash, bytes: bundle.bytes, gzip_bytes: bundleTar(bundle, true).length, files: bundle.files.map((f) => ({path: f.rel, bytes: f.data.length}))},
  }
}
