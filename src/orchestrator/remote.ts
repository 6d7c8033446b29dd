import {shellJoin, shq} from '../shell/quote.js'

/** Everything fleet puts on a host lives under this folder of the login's home. */
export const REMOTE_ROOT = '.fleet'

export function bundleDir(hash: string): string {
  return `${REMOTE_ROOT}/bundles/${hash}`
}

export function varsPath(hash: string): string {
  return `${REMOTE_ROOT}/vars/${hash}.yaml`
}

/** What one exec tells about a host before anything is uploaded. */
export interface Probe {
  os: string
  uid: number
  node?: {path: string; version: string; major: number}
  diskKb: number
  bundlePresent: boolean
  /** `uname -m` */
  arch: string
  /** The version of the runtime fleet installed earlier (.fleet/runtime), if any. */
  runtime?: string
}

/**
 * One round trip: OS, uid, a Node.js runtime, free disk, whether the bundle is there.
 * (Not sudo: the agent checks it, with a clear sentence, when a step needs root.)
 */
export function probeScript(bundleHash: string): string {
  return [
    `printf 'os=%s\\n' "$(. /etc/os-release 2>/dev/null; echo "$ID $VERSION_ID")"`,
    `printf 'uid=%s\\n' "$(id -u)"`,
    `for n in node nodejs ${REMOTE_ROOT}/runtime/bin/node; do v=$("$n" --version 2>/dev/null) && { printf 'node=%s %s\\n' "$(command -v "$n" || echo "$n")" "$v"; break; }; done`,
    `printf 'disk_kb=%s\\n' "$(df -Pk . | awk 'NR==2{print $4}')"`,
    `test -f ${shq(`${bundleDir(bundleHash)}/.complete`)} && echo bundle=yes || true`,
    `printf 'arch=%s\\n' "$(uname -m)"`,
    `v=$(${REMOTE_ROOT}/runtime/bin/node --version 2>/dev/null) && printf 'runtime=%s\\n' "$v" || true`,
  ].join('\n')
}

export function parseProbe(text: string): Probe {
  const kv = new Map<string, string>()
  for (const line of text.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim())
  }
  const node = kv.get('node')?.match(/^(\S+) v(\d+)\.(\d+)\.(\d+)/)
  return {
    os: kv.get('os') ?? 'unknown',
    uid: Number(kv.get('uid') ?? -1),
    node: node ? {path: node[1], version: `${node[2]}.${node[3]}.${node[4]}`, major: Number(node[2])} : undefined,
    diskKb: Number(kv.get('disk_kb') ?? 0),
    bundlePresent: kv.get('bundle') === 'yes',
    arch: kv.get('arch') ?? 'unknown',
    runtime: kv.get('runtime')?.replace(/^v/, ''),
  }
}

/** The agent command line on the host: `NODE .fleet/bundles/HASH/agent.mjs SUB ARGS...`, every word quoted. */
export function agentCommand(node: string, hash: string, sub: string, args: string[]): string {
  return shellJoin([node, `${bundleDir(hash)}/agent.mjs`, sub, ...args])
}

/**
 * Start the agent's run for fleet in one Node.js process: `setsid` gives it its own
 * session (the end of this SSH session does not end it), stdin and stray output go
 * away from the session, and it streams `agent start --follow`'s output on fd 3 =
 * this exec's stdout until the run ends (`-w`: the exec's exit code is the run's).
 * Without setsid, `agent start --follow` does the same in two processes.
 */
export function streamingRunCommand(node: string, hash: string, args: string[]): string {
  const agent = `${bundleDir(hash)}/agent.mjs`
  const out = shq(`${REMOTE_ROOT}/agent.out`)
  return [
    `if command -v setsid >/dev/null 2>&1; then`,
    `  exec setsid -w ${shellJoin([node, agent, 'run', '--detached-child', '--stream', ...args])} 3>&1 >>${out} 2>&1 </dev/null`,
    `else exec ${shellJoin([node, agent, 'start', '--follow', ...args])}; fi`,
  ].join('\n')
}

/** Move an uploaded bundle into place at once; a concurrent upload of the same hash is harmless. */
export function finishBundleCommand(tmp: string, hash: string): string {
  const dir = bundleDir(hash)
  return `touch ${shq(`${tmp}/.complete`)} && { mv -T ${shq(tmp)} ${shq(dir)} 2>/dev/null || rm -rf ${shq(tmp)}; } && test -f ${shq(`${dir}/.complete`)}`
}

export function mkdirCommand(dirs: string[]): string {
  return shellJoin(['mkdir', '-p', '-m', '700', ...dirs])
}
