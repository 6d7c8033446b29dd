export * from './types.js'
export {SshTransport, type SshOptions, type SshTarget} from './ssh.js'
export {
  checkHostKey,
  fingerprint,
  formatKey,
  hashHostId,
  hostFieldMatches,
  hostIdFor,
  keyTypeOf,
  knownKeys,
  KnownHostsFile,
  MemoryHostKeyStore,
  parseKnownHosts,
  type HostKeyStore,
  type HostKeyVerdict,
  type KnownHostsEntry,
} from './known-hosts.js'
