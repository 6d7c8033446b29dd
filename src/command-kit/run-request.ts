import type {HostsRequest} from '../hosts/hosts-input.js'
import type {RoomRequest} from '../orchestrator/room-run.js'

/**
 * From parsed flags to the request of a run: shared by the oclif commands and the fast
 * path (src/cli/fleet-fast.ts), so it imports nothing of oclif. The flags are the ones of
 * runFlags (src/command-kit/fleet-flags.ts), by name.
 */
export interface RunRequestFlags {
  hosts?: string
  transport?: string
  targets?: string
  region?: string
  profile?: string
  user?: string
  identity?: string
  port?: number
  'known-hosts'?: string
  db: string
  playbook: string
  vars?: string
  concurrency: number
  'max-errors'?: string
  only?: string
  'connect-timeout': number
  compress?: boolean
  runtime: string
  'runtime-mirror': string
  'cache-vars'?: string
}

/** The request prepare and cleanup share, from their common flags. */
export function fleetRunRequest(flags: RunRequestFlags, mode: 'run' | 'undo'): RoomRequest {
  return {
    cacheVars: flags['cache-vars'],
    mode,
    ...hostsRequest(flags),
    knownHosts: flags['known-hosts'],
    db: flags.db,
    playbook: flags.playbook,
    vars: flags.vars,
    concurrency: flags.concurrency,
    maxErrors: flags['max-errors'],
    onlyHosts: flags.only,
    connectTimeoutMs: flags['connect-timeout'] * 1000,
    compress: flags.compress,
    runtime: flags.runtime as 'auto' | 'managed',
    runtimeMirror: flags['runtime-mirror'],
  }
}

export function prepareRequest(flags: RunRequestFlags & {canary?: number; steps?: string; 'from-step'?: string}): RoomRequest {
  return {...fleetRunRequest(flags, 'run'), canary: flags.canary, steps: flags.steps, fromStep: flags['from-step']}
}

export function cleanupRequest(flags: RunRequestFlags & {'to-step'?: string; 'keep-cache'?: boolean}): RoomRequest {
  return {...fleetRunRequest(flags, 'undo'), toStep: flags['to-step'], keepCache: flags['keep-cache']}
}

/** The hosts part of a request (prepare, cleanup, collect-logs): the file or the SSM targets, and defaults for the file's lines. */
export function hostsRequest(flags: {hosts?: string; transport?: string; targets?: string; region?: string; profile?: string; user?: string; identity?: string; port?: number}): HostsRequest {
  return {
    hostsFile: flags.hosts,
    transport: flags.transport as 'ssh' | 'ssm' | undefined,
    targets: flags.targets,
    ssm: {region: flags.region, profile: flags.profile},
    defaults: {user: flags.user, identity: flags.identity, port: flags.port},
  }
}
