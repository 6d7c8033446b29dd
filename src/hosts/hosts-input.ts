import {loadInventory, type HostSpec, type Inventory} from '../inventory/index.js'
import {UserError} from '../errors/user-error.js'
import {SsmContext, type SsmSettings} from '../transport/ssm-client.js'
import {ssmTargetHosts} from './ssm-instances.js'
import type {HostKeyStore} from '../transport/known-hosts.js'
import type {TransportSettings} from './transports.js'

/** Which hosts a command reaches: a hosts file, or (SSM) every instance with a tag. */
export interface HostsRequest {
  /** The hosts file; or none with `targets`. */
  hostsFile?: string
  /** `--transport ssm`: every host must be an SSM instance. */
  transport?: 'ssh' | 'ssm'
  /** `--targets tag:KEY=VALUE`: the SSM instances with that tag instead of a hosts file. */
  targets?: string
  /** AWS Systems Manager: region, profile (default: the AWS SDK's chain). */
  ssm?: SsmSettings
  defaults: {user?: string; identity?: string; port?: number}
}

export interface HostsInput {
  /** The hosts file read, when there is one (SSH agent settings come with it). */
  inventory?: Inventory
  /** What the database records as the run's hosts: the file, or `ssm:TARGETS`. */
  label: string
}

/** The local half: the hosts file read and checked, flags that exclude each other refused. Contacts nothing. */
export function readHostsInput(req: HostsRequest): HostsInput {
  if (!!req.hostsFile === !!req.targets) throw new UserError(req.targets ? '--hosts and --targets exclude each other; give one.' : 'Give --hosts FILE, or --transport ssm --targets tag:KEY=VALUE.')
  if (req.targets && req.transport !== 'ssm') throw new UserError('--targets selects instances of AWS Systems Manager; add --transport ssm.')
  const inventory = req.hostsFile ? loadInventory(req.hostsFile, {defaults: req.defaults}) : undefined
  const notSsm = req.transport === 'ssm' ? inventory?.hosts.find((h) => h.transport !== 'ssm') : undefined
  if (notSsm) throw new UserError(`${notSsm.source.file}:${notSsm.source.line}: --transport ssm, but "${notSsm.address}" is not an instance id (i-...).`)
  return {inventory, label: req.hostsFile ?? `ssm:${req.targets}`}
}

/** The hosts: the file's, or `--targets` resolved to instance ids; SSM region and credentials are checked here, before any host is contacted. */
export async function resolveHosts(req: HostsRequest, input: HostsInput): Promise<HostSpec[]> {
  const hosts = input.inventory?.hosts ?? (await ssmTargetHosts(req.targets!, req.ssm ?? {}))
  if (hosts.some((h) => h.transport === 'ssm')) await SsmContext.shared(req.ssm).check()
  return hosts
}

/** How every host of the command is reached: SSH agent settings from the hosts file, the shared timeouts, the SSM settings. */
export function transportSettings(req: HostsRequest & {connectTimeoutMs?: number; compress?: boolean}, input: HostsInput, hostKeys: HostKeyStore): TransportSettings {
  return {hostKeys, useAgent: input.inventory?.useAgent ?? false, agentSocket: input.inventory?.agentSocket, connectTimeoutMs: req.connectTimeoutMs ?? 15_000, compress: req.compress ?? false, ssm: req.ssm}
}
