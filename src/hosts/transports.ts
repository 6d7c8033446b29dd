import type {HostSpec} from '../inventory/index.js'
import {KnownHostsFile, type HostKeyStore} from '../transport/known-hosts.js'
import {SshTransport} from '../transport/ssh.js'
import {SsmTransport, type SsmSettings} from '../transport/ssm.js'
import type {Transport} from '../transport/types.js'
import {UserError} from '../errors/user-error.js'

/**
 * Host keys: the user's OpenSSH known_hosts file when given (read first),
 * then what fleet itself recorded on first use (in its database).
 */
export function layeredHostKeys(recorded: HostKeyStore, knownHostsFile?: string): HostKeyStore {
  if (!knownHostsFile) return recorded
  const file = new KnownHostsFile(knownHostsFile)
  const all = (id: string) => [...(file.getAll?.(id) ?? []), ...(recorded.getAll?.(id) ?? [])]
  return {
    location: `${knownHostsFile} and ${recorded.location}`,
    get: (id) => all(id)[0],
    getAll: all,
    getRevoked: (id) => file.getRevoked?.(id) ?? [],
    set: (id, key) => recorded.set(id, key),
  }
}

export interface TransportSettings {
  hostKeys: HostKeyStore
  useAgent: boolean
  agentSocket?: string
  connectTimeoutMs: number
  compress: boolean
  /** AWS Systems Manager hosts: region, profile, endpoint (default: the AWS SDK's usual chain). */
  ssm?: SsmSettings
}

/** The transport for one host of the inventory. */
export function transportFor(h: HostSpec, s: TransportSettings): Transport {
  // SSM: the address is the instance id; --connect-timeout bounds how long it may take to pick a command up.
  if (h.transport === 'ssm') return new SsmTransport({instanceId: h.address, label: h.name, settings: s.ssm, deliveryTimeoutMs: s.connectTimeoutMs})
  if (h.transport !== 'ssh') throw new UserError(`${h.source.file}:${h.source.line}: field "transport": ${h.transport} is not supported by this fleet yet.`)
  return new SshTransport({
    host: h.address,
    port: h.port,
    username: h.user,
    identityFiles: h.identityFiles,
    agent: s.useAgent ? s.agentSocket : false,
    knownHosts: s.hostKeys,
    label: h.name,
    connectTimeoutMs: s.connectTimeoutMs,
    compress: s.compress,
    jump: h.jump && {host: h.jump.address, port: h.jump.port, username: h.jump.user, identityFiles: h.identityFiles, agent: s.useAgent ? s.agentSocket : false, knownHosts: s.hostKeys, connectTimeoutMs: s.connectTimeoutMs},
  })
}

