// Lever (d) and (e): how to send the ~1 MB bundle to every host over the one SSH
// connection fleet holds per host. SFTP, file by file, as fleet does (mkdir exec, one
// putFile per file, a finishing exec), against one exec that unpacks a tar stream
// from its stdin; each with and without ssh2's zlib compression. All hosts at once,
// interleaved rounds; wall time, fleet's CPU, and the hosts' CPU (process accounting).
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {startLocalHosts} from '../testbed/index.js'
import {buildBundle, resolvePlaybook} from '../src/orchestrator/bundle.js'
import {validateLocally} from '../src/orchestrator/validate.js'
import {SshTransport} from '../src/transport/ssh.js'
import type {HostKeyStore} from '../src/transport/known-hosts.js'
import {shq} from '../src/shell/quote.js'
import {accountingAvailable, cpuOf, withAccounting} from './acct.js'
import {median} from './proc.js'

export type UploadWay = 'sftp' | 'tar' | 'sftp+zlib' | 'tar+zlib'

export interface UploadResult {
  hosts: number
  bytes: number
  tarBytes: number
  ways: Record<UploadWay, {ms: number[]; cpuMs: number[]; hostCpuMs: number[]}>
}

function memoryKeys(): HostKeyStore {
  const keys = new Map<string, string[]>()
  return {
    location: 'memory',
    get: (id) => keys.get(id)?.[0],
    getAll: (id) => keys.get(id) ?? [],
    set: (id, key) => void keys.set(id, [...(keys.get(id) ?? []), key]),
    delete: (id) => void keys.delete(id),
  }
}

export async function uploadBench(opts: {hosts: number; rounds: number; prefix?: string; log?: (l: string) => void}): Promise<UploadResult> {
  const log = opts.log ?? (() => undefined)
  const set = await startLocalHosts({count: opts.hosts, prefix: opts.prefix ?? 'fbu', logLevel: 'ERROR'})
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-upload-'))
  try {
    const demo = resolvePlaybook('demo')
    const bundle = buildBundle(demo, validateLocally({mode: 'run', playbook: demo, steps: {}}).files)
    for (const f of bundle.files) {
      mkdirSync(dirname(join(dir, 'b', f.rel)), {recursive: true})
      writeFileSync(join(dir, 'b', f.rel), f.data, {mode: f.mode})
    }
    const tar = execFileSync('tar', ['cf', '-', '-C', join(dir, 'b'), '.'], {maxBuffer: 64 << 20})
    const ways: UploadWay[] = ['sftp', 'tar', 'sftp+zlib', 'tar+zlib']
    const result: UploadResult = {hosts: opts.hosts, bytes: bundle.bytes, tarBytes: tar.length, ways: Object.fromEntries(ways.map((w) => [w, {ms: [], cpuMs: [], hostCpuMs: []}])) as unknown as UploadResult['ways']}
    const users = new Set(set.hosts.map((h) => h.user))
    const keys = memoryKeys()
    for (let round = 0; round < opts.rounds; round++) {
      for (const way of ways) {
        for (const h of set.hosts) rmSync(join(h.home, '.fleet'), {recursive: true, force: true})
        const ts = set.hosts.map((h) => new SshTransport({host: h.address, port: h.port, username: h.user, identityFiles: [h.identityFile], agent: false, knownHosts: keys, label: h.name, compress: way.endsWith('zlib'), connectTimeoutMs: 60_000}))
        await Promise.all(ts.map((t) => t.connect()))
        const root = `.fleet/bundles/${bundle.hash}`
        const tmp = `.fleet/bundles/.tmp-${bundle.hash}`
        const run = async () => {
          const c0 = process.cpuUsage()
          const t0 = process.hrtime.bigint()
          await Promise.all(
            ts.map(async (t) => {
              if (way.startsWith('sftp')) {
                const dirs = [...new Set(bundle.files.map((f) => dirname(`${tmp}/${f.rel}`)))]
                await t.exec(`mkdir -p -m 700 ${dirs.map(shq).join(' ')}`)
                for (const f of bundle.files) await t.putFile(f.data, `${tmp}/${f.rel}`, f.mode)
                const r = await t.exec(`touch ${tmp}/.complete && mv -T ${tmp} ${root}`)
                if (r.code !== 0) throw new Error(`${t.label}: ${r.stderr}`)
              } else {
                const r = await t.exec(`mkdir -p -m 700 ${tmp} && tar xf - -C ${tmp} && touch ${tmp}/.complete && mv -T ${tmp} ${root}`, {stdin: tar})
                if (r.code !== 0) throw new Error(`${t.label}: ${r.stderr}`)
              }
            }),
          )
          const c = process.cpuUsage(c0)
          return {ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (c.user + c.system) / 1000}
        }
        let r: {ms: number; cpuMs: number}
        let hostCpu = 0
        if (accountingAvailable()) {
          const a = await withAccounting(run, 200)
          r = a.result
          hostCpu = cpuOf(a.procs, users).totalMs
        } else r = await run()
        await Promise.all(ts.map((t) => t.close()))
        const w = result.ways[way]
        w.ms.push(r.ms)
        w.cpuMs.push(r.cpuMs)
        w.hostCpuMs.push(hostCpu)
        log(`upload ${opts.hosts} hosts, round ${round + 1}: ${way} ${r.ms.toFixed(0)} ms, fleet CPU ${r.cpuMs.toFixed(0)} ms, hosts' CPU ${hostCpu.toFixed(0)} ms`)
      }
    }
    return result
  } finally {
    await set.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}

export function summarizeUpload(r: UploadResult): string {
  const lines = [`| way (${r.hosts} hosts at once, bundle ${(r.bytes / 1024).toFixed(0)} KiB) | wall (median) | fleet CPU | hosts' CPU |`, '|---|---|---|---|']
  for (const [w, x] of Object.entries(r.ways)) lines.push(`| ${w} | ${median(x.ms).toFixed(0)} ms | ${median(x.cpuMs).toFixed(0)} ms | ${median(x.hostCpuMs).toFixed(0)} ms |`)
  return lines.join('\n')
}
