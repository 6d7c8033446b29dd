/**
 * What can go wrong talking to a host, as distinct classes so the orchestrator can
 * decide: retry later (unreachable), stop and tell the user (auth, host key), or
 * reconnect and resume (connection lost).
 */
export class TransportError extends Error {
  /** The transport's label, e.g. `fleet-h001@127.77.0.1:2022`. */
  readonly host: string
  constructor(host: string, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'TransportError'
    this.host = host
  }
}

export type UnreachableReason = 'refused' | 'timeout' | 'dns' | 'network' | 'closed' | 'proxy'

/** No connection to the host could be set up: over SSH refused, timed out, name not found, closed during the handshake; over SSM see SsmUnreachableError. */
export class UnreachableError extends TransportError {
  readonly reason: UnreachableReason
  constructor(host: string, reason: UnreachableReason, message: string, options?: {cause?: unknown}) {
    super(host, message, options)
    this.name = 'UnreachableError'
    this.reason = reason
  }
}

/** The host answered but accepted none of our keys. */
export class AuthFailedError extends TransportError {
  constructor(host: string, message: string, options?: {cause?: unknown}) {
    super(host, message, options)
    this.name = 'AuthFailedError'
  }
}

/** The host offered a key other than the one recorded for it: we refuse to talk to it. */
export class HostKeyMismatchError extends TransportError {
  readonly hostId: string
  readonly knownFingerprints: string[]
  readonly offeredFingerprint: string
  readonly storeLocation: string
  constructor(host: string, info: {hostId: string; knownFingerprints: string[]; offeredFingerprint: string; offeredType: string; storeLocation: string}) {
    const known = info.knownFingerprints.join(', ')
    super(
      host,
      `Host key for ${info.hostId} has changed: ${info.storeLocation} has ${known}, the host offered ${info.offeredType} ${info.offeredFingerprint}. ` +
        `Refusing to connect (possible man-in-the-middle, or the host was reinstalled). ` +
        `If the change is expected, remove the old entry (for a known_hosts file: ssh-keygen -R '${info.hostId}' -f ${info.storeLocation}) and retry.`,
    )
    this.name = 'HostKeyMismatchError'
    this.hostId = info.hostId
    this.knownFingerprints = info.knownFingerprints
    this.offeredFingerprint = info.offeredFingerprint
    this.storeLocation = info.storeLocation
  }
}

/** The host offered a key marked @revoked in the known-hosts file. */
export class HostKeyRevokedError extends TransportError {
  constructor(host: string, hostId: string, fingerprint: string, storeLocation: string) {
    super(host, `Host key ${fingerprint} offered by ${hostId} is marked @revoked in ${storeLocation}; refusing to connect.`)
    this.name = 'HostKeyRevokedError'
  }
}

/**
 * The connection dropped after it was set up (mid-command or between commands; over SSM:
 * the instance stopped answering, or a command was killed under us). The command's
 * outcome is unknown; the caller can connect() again and resume.
 */
export class ConnectionLostError extends TransportError {
  constructor(host: string, message: string, options?: {cause?: unknown}) {
    super(host, message, options)
    this.name = 'ConnectionLostError'
  }
}

/** exec() ran longer than its timeoutMs; the command was stopped (SSH: SIGKILL and the channel closed; SSM: cancelled). */
export class ExecTimeoutError extends TransportError {
  constructor(host: string, command: string, timeoutMs: number) {
    super(host, `${host}: command timed out after ${timeoutMs} ms: ${command.length > 200 ? `${command.slice(0, 200)}…` : command}`)
    this.name = 'ExecTimeoutError'
  }
}

/** exec() was cancelled through its AbortSignal. */
export class ExecAbortedError extends TransportError {
  constructor(host: string, reason?: unknown) {
    super(host, `${host}: command aborted`, {cause: reason})
    this.name = 'AbortError'
  }
}
