import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {shq} from '../shell/quote.js'
import {REMOTE_ROOT, RUNTIME_NODE} from '../protocol/remote-layout.js'

/**
 * The Node.js runtime fleet gives a host that has none (or too old a one):
 * the official build as published on the npm registry (package
 * node-linux-<arch>), pinned by version and by the registry's sha512.
 * A host fetches it itself, from the registry or a mirror, and verifies it;
 * only when that fails does the instructor upload its own cached copy, so a
 * room with internet never pulls 50 MB per host through the instructor's uplink.
 * Only a maintained LTS line is pinned (Node 20 reached its end of life on
 * 2026-04-30): 24.x, its newest release published for both arches. To move it,
 * take `npm view node-linux-<arch>@<version> dist.integrity` for each arch and
 * check the downloaded tarballs against them.
 */
export const RUNTIME_VERSION = '24.22.3'
const INTEGRITY: Record<string, string> = {
  x64: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  arm64: 'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==',
}
export const DEFAULT_RUNTIME_MIRROR = 'https://registry.npmjs.org'

/** `uname -m` to the npm package's arch; undefined when fleet has no runtime for it. */
export function runtimeArch(uname: string): string | undefined {
  return {x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64'}[uname.trim()]
}

function sha512Hex(arch: string): string {
  return Buffer.from(INTEGRITY[arch].replace(/^sha512-/, ''), 'base64').toString('hex')
}

export function tarballUrl(arch: string, mirror = DEFAULT_RUNTIME_MIRROR): string {
  return `${mirror.replace(/\/+$/, '')}/node-linux-${arch}/-/node-linux-${arch}-${RUNTIME_VERSION}.tgz`
}

/** Verify a tarball on the host by the pinned checksum and put its node binary in place. */
function installFromFile(arch: string, file: string): string {
  const hex = sha512Hex(arch)
  return [
    `echo ${shq(`${hex}  ${file}`)} | sha512sum -c --status || { echo "checksum mismatch for the Node.js runtime download" >&2; exit 3; }`,
    `d=$(mktemp -d ${shq(`${REMOTE_ROOT}/rt.XXXXXX`)})`,
    `tar xzf ${shq(file)} -C "$d" package/bin/node`,
    `mkdir -p ${shq(`${REMOTE_ROOT}/runtime/bin`)}`,
    `mv -f "$d/package/bin/node" ${shq(RUNTIME_NODE)}`,
    `rm -rf "$d" ${shq(file)}`,
    `${shq(RUNTIME_NODE)} --version`,
  ].join('\n')
}

/** The host downloads (curl or wget) and installs the runtime itself. */
export function fetchOnHostScript(arch: string, mirror?: string): string {
  const url = tarballUrl(arch, mirror)
  const file = `${REMOTE_ROOT}/runtime-download.tgz`
  return [
    'set -e',
    `mkdir -p ${shq(REMOTE_ROOT)}`,
    `if command -v curl >/dev/null; then curl -fsSL --connect-timeout 10 --max-time 300 -o ${shq(file)} ${shq(url)}; else wget -q -T 30 -O ${shq(file)} ${shq(url)}; fi`,
    installFromFile(arch, file),
  ].join('\n')
}

export const UPLOADED_RUNTIME = `${REMOTE_ROOT}/runtime-upload.tgz`

/** After the instructor uploaded its copy to UPLOADED_RUNTIME. */
export function installUploadedScript(arch: string): string {
  return `set -e\n${installFromFile(arch, UPLOADED_RUNTIME)}`
}

/**
 * The instructor's copy for the fallback, downloaded once into the cache
 * and checked against the pinned checksum every time it is used.
 */
export async function cachedRuntime(arch: string, mirror = DEFAULT_RUNTIME_MIRROR): Promise<Buffer> {
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fleet')
  const file = join(dir, `node-linux-${arch}-${RUNTIME_VERSION}.tgz`)
  const ok = (b: Buffer) => createHash('sha512').update(b).digest('hex') === sha512Hex(arch)
  if (existsSync(file)) {
    const b = readFileSync(file)
    if (ok(b)) return b
  }
  const res = await fetch(tarballUrl(arch, mirror))
  if (!res.ok) throw new Error(`cannot download the Node.js runtime from ${tarballUrl(arch, mirror)}: HTTP ${res.status}`)
  const b = Buffer.from(await res.arrayBuffer())
  if (!ok(b)) throw new Error(`the Node.js runtime from ${tarballUrl(arch, mirror)} does not match its pinned checksum`)
  mkdirSync(dir, {recursive: true})
  writeFileSync(`${file}.tmp`, b)
  renameSync(`${file}.tmp`, file)
  return b
}
