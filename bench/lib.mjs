// Shared by the benchmarks: timing child processes side by side, and the table in BENCHMARKS.md.
import {spawnSync, execFileSync} from 'node:child_process'
import {cpus, totalmem} from 'node:os'

/** Wall time of one command, in ms; fails loudly if the command fails. */
export function timeCommand(argv, opts = {}) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(argv[0], argv.slice(1), {stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', ...opts})
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`)
  return ms
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export function spread(xs) {
  return Math.max(...xs) - Math.min(...xs)
}

/** Run the peers interleaved (A B A B ...) so drift in machine load hits both alike. */
export function interleaved(rounds, peers) {
  const times = Object.fromEntries(Object.keys(peers).map((k) => [k, []]))
  for (let i = 0; i < rounds; i++) for (const [k, fn] of Object.entries(peers)) times[k].push(fn(i))
  return times
}

export function machine() {
  const version = (cmd, args) => {
    try {
      return execFileSync(cmd, args, {encoding: 'utf8'}).split('\n')[0].trim()
    } catch {
      return 'n/a'
    }
  }
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    bash: version('bash', ['--version']),
  }
}
