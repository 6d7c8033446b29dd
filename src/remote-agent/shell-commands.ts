/**
 * The command lines fleet runs on a host, built from the agent's written contract
 * (src/protocol: its command line, its folders on the host): every word quoted by
 * the shared helper, nothing pasted.
 */
import {agentArgv, agentEntry, AGENT_OUT, bundleDir, BUNDLE_COMPLETE, EXIT, VARS_DIR, type AgentFlags, type AgentSubcommand} from '../protocol/index.js'
import {shellJoin, shq} from '../shell/quote.js'

/** `NODE .fleet/bundles/HASH/agent.mjs SUB --flag value ...`, every word quoted. */
export function agentCommand<S extends AgentSubcommand>(node: string, hash: string, sub: S, flags: AgentFlags[S]): string {
  return shellJoin([node, agentEntry(hash), ...agentArgv(sub, flags)])
}

/**
 * Start the agent's run for fleet in one Node.js process: `setsid` gives it its own
 * session (the end of this SSH session does not end it), stdin and stray output go
 * away from the session, and it streams `agent start --follow`'s output on fd 3 =
 * this exec's stdout until the run ends (`-w`: the exec's exit code is the run's).
 * Without setsid, `agent start --follow` does the same in two processes.
 */
export function streamingRunCommand(node: string, hash: string, flags: AgentFlags['run'] & AgentFlags['start']): string {
  const {stream: _s, follow: _f, 'detached-child': _d, ...request} = flags
  const out = shq(AGENT_OUT)
  return [
    `if command -v setsid >/dev/null 2>&1; then`,
    `  exec setsid -w ${shellJoin([node, agentEntry(hash), ...agentArgv('run', {...request, 'detached-child': true, stream: true})])} 3>&1 >>${out} 2>&1 </dev/null`,
    `else exec ${shellJoin([node, agentEntry(hash), ...agentArgv('start', {...request, follow: true})])}; fi`,
  ].join('\n')
}

/**
 * One poll of a run (transports without streaming, SSM): `agent follow --no-wait`
 * prints the records after FROM and exits with the run's status (EXIT.interrupted
 * while it has not ended). When it printed nothing and the run has not ended,
 * `agent status --json` on stderr tells a run still going from one that stopped.
 */
export function pollCommand(node: string, hash: string, run: string, from: number): string {
  const follow = agentCommand(node, hash, 'follow', {run, from, 'no-wait': true})
  const status = agentCommand(node, hash, 'status', {run, json: true})
  return [`f=$(mktemp) || exit 125`, `${follow} >"$f"; c=$?`, `cat "$f"`, `if [ "$c" = ${EXIT.interrupted} ] && [ ! -s "$f" ]; then ${status} >&2; fi`, `rm -f "$f"`, `exit "$c"`].join('\n')
}

/**
 * Unpack the bundle's tar from stdin into `tmp` (made with its folders, and the vars folder) and
 * move it into place. `varsPath`: the tar also carries the run's vars file, as `tmp/VARS_IN_TAR`
 * (0600), moved there first, so that one stream brings both.
 */
export function unpackBundleCommand(o: {tmp: string; hash: string; dirs: string[]; gzip: boolean; varsPath?: string}): string {
  const vars = o.varsPath ? `mv -f ${shq(`${o.tmp}/${VARS_IN_TAR}`)} ${shq(o.varsPath)} && ` : ''
  return `${mkdirCommand([VARS_DIR, ...o.dirs])} && tar -x${o.gzip ? 'z' : ''}pof - -C ${shq(o.tmp)} && ${vars}${finishBundleCommand(o.tmp, o.hash)}`
}

/** The vars file's name inside an upload's tar (moved out before the bundle's folder is complete). */
export const VARS_IN_TAR = '.vars'

/**
 * What the host's shell exits with when the upload that comes before a streaming start fails
 * (no agent ran: every agent exit code is below it, a signal's 128 and above).
 */
export const UPLOAD_FAILED = 97

/** The upload, then `start`; a failed upload ends the exec with UPLOAD_FAILED and starts nothing. */
export function uploadThen(upload: string, start: string): string {
  return `{ ${upload}; } || exit ${UPLOAD_FAILED}\n${start}`
}

/** Move an uploaded bundle into place at once; a concurrent upload of the same hash is harmless. */
export function finishBundleCommand(tmp: string, hash: string): string {
  const dir = bundleDir(hash)
  return `touch ${shq(`${tmp}/${BUNDLE_COMPLETE}`)} && { mv -T ${shq(tmp)} ${shq(dir)} 2>/dev/null || rm -rf ${shq(tmp)}; } && test -f ${shq(`${dir}/${BUNDLE_COMPLETE}`)}`
}

/** Write stdin to `path` (mode 0600, in `dir`, made 0700) atomically: a temporary file beside it, then a rename. */
export function writeFileCommand(dir: string, path: string): string {
  const tmp = `${shq(path)}.tmp-$$` // $$, outside the quotes: this shell's pid
  return `${mkdirCommand([dir])} && umask 077 && cat > ${tmp} && mv -f ${tmp} ${shq(path)}`
}

export function mkdirCommand(dirs: string[]): string {
  return shellJoin(['mkdir', '-p', '-m', '700', ...dirs])
}

/** The first non-blank line of a command's stderr, without oclif's "Error: " prefix: the sentence to report. */
export function firstErrorLine(stderr: string): string {
  return (stderr.split('\n').map((l) => l.trim()).find(Boolean) ?? '').replace(/^Error: /, '')
}
