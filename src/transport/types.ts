/** The one small interface every transport implements: SSH (ssh.ts) and AWS Systems Manager (ssm.ts). */

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. Without it stdin is closed at once. */
  stdin?: string | Buffer
  /** Streamed stdout; when given, ExecResult.stdout stays empty. */
  onStdout?: (b: Buffer) => void
  /** Streamed stderr; when given, ExecResult.stderr stays empty. */
  onStderr?: (b: Buffer) => void
  /** Stop the command after this long (SSH: SIGKILL and close the channel; SSM: cancel it); rejects with ExecTimeoutError. */
  timeoutMs?: number
  /** Abort like a timeout; rejects with ExecAbortedError. */
  signal?: AbortSignal
}

export interface ExecResult {
  /** Exit status; null when the command died of a signal. */
  code: number | null
  /** e.g. `SIGKILL` when the command died of a signal. */
  signal?: string
  /** Collected output (UTF-8), only for streams without a callback; capped (1 MiB by default). */
  stdout: string
  stderr: string
  /** True when some collected output was dropped at the cap. */
  truncated?: boolean
}

export interface Transport {
  /** Human label for messages, e.g. `fleet-h001@127.77.0.1:2022`. */
  readonly label: string
  /**
   * false: exec() hands output over only once the command ended (AWS SSM), so
   * a long-running command cannot be followed live; callers poll instead.
   * Absent or true: output streams as it comes (SSH).
   */
  readonly streams?: boolean
  /**
   * The host key the host presented on the last connect, in OpenSSH's `TYPE BASE64`
   * (the key columns of known_hosts), for recording on first use and showing on the
   * host's row. Undefined before a connect, and for transports with no host key (SSM).
   */
  readonly hostKey?: string
  /** Open the connection; a no-op when already open. After a ConnectionLostError, opens a new one. */
  connect(): Promise<void>
  /** Run one command line (already quoted with shq/shellJoin) on the host. */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>
  /**
   * Write a file on the host atomically (temp file + rename in the same directory).
   * `data` is the content, or a string naming a local file. `mode` defaults to the
   * local file's mode, or 0644 for a Buffer.
   */
  putFile(data: Buffer | string, remotePath: string, mode?: number): Promise<void>
  /**
   * Optional: write several files under `remoteDir` (created) in one transfer,
   * for transports where every round trip is slow (SSM). Not atomic as a
   * whole: callers write into a temporary dir and move it into place.
   */
  putFiles?(files: Array<{rel: string; data: Buffer; mode: number}>, remoteDir: string): Promise<void>
  /** Copy a file from the host (creating local parent directories); keeps its permission bits. */
  getFile(remotePath: string, localPath: string): Promise<void>
  close(): Promise<void>
}

/** The errors callers of a Transport tell apart; the whole family is in errors.ts. */
export {TransportError, ConnectionLostError} from './errors.js'
