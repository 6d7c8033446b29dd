/**
 * The shapes of the local hosts' API: what a start takes (LocalHostsOptions), what each
 * host is (LocalHost) and what a running set offers (LocalHostSet). Tests, benchmarks
 * and `fleet demo` program against these; the implementation lives beside them.
 */
export interface LocalHostsOptions {
  /** How many hosts (1..65024). */
  count: number
  /**
   * Account name prefix; accounts are `${prefix}001`… One running set per prefix.
   * Default `fleet-h`, or `fleet-vN-` in vitest worker N.
   */
  prefix?: string
  /** Where configs, host keys, logs and the client key go. Default: a new temp dir, removed by stop(). */
  baseDir?: string
  /** Parent of the accounts' homes (stable across runs so accounts can be reused). Default /var/lib/fleet-localhosts/home. */
  homeRoot?: string
  /** TCP port every host listens on (each on its own address). Default 2022. */
  port?: number
  /** One client key per host instead of one for the set. */
  perHostKeys?: boolean
  /** sshd binary. Default /usr/sbin/sshd. */
  sshdPath?: string
  /** sshd MaxSessions (channels per connection). Default 64. */
  maxSessions?: number
  /** sshd LogLevel. Default INFO. */
  logLevel?: 'QUIET' | 'FATAL' | 'ERROR' | 'INFO' | 'VERBOSE' | 'DEBUG' | 'DEBUG1' | 'DEBUG2' | 'DEBUG3'
  /** How long to wait for all sshds to listen. Default 30 s. */
  startTimeoutMs?: number
  /** Give the accounts passwordless sudo. Default true. */
  sudo?: boolean
  /** More sshd command-line arguments, e.g. ['-o', 'LogLevel=DEBUG3']. */
  sshdArgs?: string[]
  /**
   * Run every sshd inside this network namespace (`nsenter --net=/run/netns/NAME`), host k
   * at `addresses[k - 1]` instead of the set's loopback block. The namespace, its links and
   * the addresses on them are the caller's: made before the start, removed after stop().
   */
  netns?: {name: string; addresses: string[]}
}

export interface LocalHost {
  /** 1-based position in the set. */
  index: number
  /** Host name for the hosts file, e.g. `h001`. */
  name: string
  /** Unix account, e.g. `fleet-h001`. */
  user: string
  uid: number
  gid: number
  address: string
  port: number
  /** OpenSSH known_hosts name: `[address]:port`. */
  hostId: string
  home: string
  /** Private key (OpenSSH format, mode 0600) that logs in as `user`. */
  identityFile: string
  /** `ssh-ed25519 AAAA…` (no comment). Changes with rotateHostKey(). */
  hostKeyPublic: string
  hostKeyFile: string
  /** pid of the listening sshd; undefined while the host is stopped. */
  sshdPid: number | undefined
  /** This host's directory: sshd_config, host key, pid file, sshd.log. */
  dir: string
  configFile: string
  logFile: string
}

export interface LocalHostSet {
  readonly hosts: LocalHost[]
  readonly baseDir: string
  readonly prefix: string
  /** The client private key for the whole set (the first host's when perHostKeys). */
  readonly identityFile: string
  /** Milliseconds spent per phase of the start. */
  readonly timings: {accountsMs: number; filesMs: number; sshdMs: number; totalMs: number}
  /** Stop every sshd this set started (and their sessions), remove baseDir (if we made it), the homes and the sudoers file. */
  stop(opts?: {keepHomes?: boolean; killUserProcesses?: boolean}): Promise<void>
  /** SIGKILL the host's per-connection sshd processes (not the listener): every open connection drops. Returns the pids killed. */
  killSessions(host: LocalHost | number): number[]
  /** pids of the host's per-connection sshd processes. */
  sessionPids(host: LocalHost | number): number[]
  /** New ed25519 host key, then restart that host's listener. Open connections stay. Returns the new public key. */
  rotateHostKey(host: LocalHost | number): Promise<string>
  /** Stop the host's listener and drop its connections: the host becomes unreachable (connection refused). */
  stopHost(host: LocalHost | number): Promise<void>
  /** Start a stopped host again (same key, same address). */
  startHost(host: LocalHost | number): Promise<void>
  /** fleet hosts-file lines: `user@address:port name=NAME identity=PATH`. */
  hostsFileText(opts?: {identity?: boolean}): string
  /** OpenSSH known_hosts lines with the hosts' current keys: `[address]:port ssh-ed25519 AAAA…`. */
  knownHostsText(): string
}
