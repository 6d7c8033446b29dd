import {connect} from 'node:net'
import {runShell} from '../exec.js'

function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({host, port})
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(timeoutMs, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface WaitSpec {
  tcp?: {host: string; port: number}
  command?: string
  timeout_s: number
  interval_s: number
}

/** One look: does the port answer, or the command succeed, right now? A wait step with no check uses this as its check. */
export async function probe(spec: WaitSpec, opts: {sudo: boolean; env: Record<string, string>}): Promise<boolean> {
  if (spec.tcp) return tcpOpen(spec.tcp.host, spec.tcp.port, 2000)
  return (await runShell({script: spec.command!, env: opts.env, sudo: opts.sudo, timeoutMs: spec.timeout_s * 1000})).code === 0
}

/** Poll a TCP port or a command until it answers; returns why it gave up, or undefined on success. */
export async function waitFor(spec: WaitSpec, opts: {sudo: boolean; env: Record<string, string>; onAttemptOutput?: (text: string) => void}): Promise<string | undefined> {
  const deadline = Date.now() + spec.timeout_s * 1000
  const interval = spec.interval_s * 1000
  for (;;) {
    const left = deadline - Date.now()
    if (spec.tcp) {
      if (await tcpOpen(spec.tcp.host, spec.tcp.port, Math.max(100, Math.min(left, 5000)))) return undefined
    } else {
      let text = ''
      const r = await runShell({script: spec.command!, env: opts.env, sudo: opts.sudo, timeoutMs: Math.max(1000, left), onStdout: (t) => (text += t), onStderr: (t) => (text += t)})
      if (r.code === 0) return undefined
      opts.onAttemptOutput?.(text)
    }
    if (Date.now() + interval > deadline) {
      return spec.tcp ? `nothing answered on ${spec.tcp.host}:${spec.tcp.port} within ${spec.timeout_s}s` : `the command did not succeed within ${spec.timeout_s}s`
    }
    await sleep(interval)
  }
}
