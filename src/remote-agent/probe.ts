import {BUNDLE_COMPLETE, bundleDir, RUNTIME_NODE} from '../protocol/remote-layout.js'
import {shq} from '../shell/quote.js'

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
  /** gzip is there, so `tar -z` unpacks a compressed bundle. */
  gzip: boolean
}

/**
 * One round trip: OS, uid, a Node.js runtime, free disk, whether the bundle is there, gzip.
 * (Not sudo: the agent checks it, with a clear sentence, when a step needs root.)
 */
export function probeScript(bundleHash: string): string {
  // Few processes: on a 200-host room each fork here is paid 200 times. bash's own EUID and
  // HOSTTYPE stand in for `id -u` and `uname -m` (another sh runs them).
  return [
    `ID=; VERSION_ID=; [ -r /etc/os-release ] && . /etc/os-release; printf 'os=%s %s\\n' "$ID" "$VERSION_ID"`,
    `printf 'uid=%s\\n' "\${EUID:-$(id -u)}"`,
    `for n in node nodejs ${RUNTIME_NODE}; do v=$("$n" --version 2>/dev/null) && { printf 'node=%s %s\\n' "$(command -v "$n" || echo "$n")" "$v"; break; }; done`,
    `printf 'disk_kb=%s\\n' "$(df -Pk . | awk 'NR==2{print $4}')"`,
    `test -f ${shq(`${bundleDir(bundleHash)}/${BUNDLE_COMPLETE}`)} && echo bundle=yes || true`,
    `printf 'arch=%s\\n' "\${HOSTTYPE:-$(uname -m)}"`,
    `[ -x ${RUNTIME_NODE} ] && v=$(${RUNTIME_NODE} --version 2>/dev/null) && printf 'runtime=%s\\n' "$v" || true`,
    `command -v gzip >/dev/null && echo gzip=yes || true`,
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
    gzip: kv.get('gzip') === 'yes',
  }
}

/** The oldest Node.js the agent runs on. */
export const MIN_NODE_MAJOR = 18

/** The host's own Node.js when it will run the agent (18+, and not fleet's runtime found by the probe's last try). */
export function ownNode(p: Probe): string | undefined {
  return p.node && p.node.major >= MIN_NODE_MAJOR && !p.node.path.endsWith(RUNTIME_NODE) ? p.node.path : undefined
}

/** A Node.js that is on the host now: its own, else fleet's runtime installed earlier. Undefined: none (prepare would install one). */
export function nodeOnHost(p: Probe): string | undefined {
  return ownNode(p) ?? (p.runtime ? RUNTIME_NODE : undefined)
}
