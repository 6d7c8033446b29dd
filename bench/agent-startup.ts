// The agent's start-up: CPU (user + system, the agent and every process it waited for:
// its step's bash, the step launcher) of `agent run` of a one-step playbook (`true`),
// against `node -e 0` on the same machine, interleaved (A B A B ...). CPU, not wall
// time: on a loaded machine the ratio of the two stays what one host pays per run.
// The clock counts in ticks (10 ms), so each measurement is a batch of runs. The run is a
// host's: the agent fleet ships (dist/agent-host, one module without the YAML reader and the
// schemas) with the compiled playbook beside it (from the whole agent's dry run, as fleet
// ships it); the whole agent (dist/agent) loading the YAML itself is measured beside it, and
// so is the floor under any Node.js agent: a script that only spawns the step's bash.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {compiledPath} from '../src/protocol/remote-layout.js'
import {mountHostDisk} from './host-disk.js'
import {childrenCpuMs, median, sessionEnv, spread} from './proc.js'

export interface AgentStartupResult {
  agentMs: number[]
  nodeMs: number[]
  /**
   * The floor under any Node.js agent: a script that only spawns the step's bash as the agent
   * does (its own process group, stdout and stderr piped) and waits for it.
   */
  spawnMs: number[]
  /** The same run without the compiled playbook: the YAML parsed and checked on the host. */
  yamlMs: number[]
}

export const STARTUP_TARGET = 1.5

function batchCpuMs(argv: () => string[], batch: number, env: NodeJS.ProcessEnv): number {
  const c0 = childrenCpuMs()
  for (let i = 0; i < batch; i++) {
    const a = argv()
    const r = spawnSync(a[0], a.slice(1), {stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env})
    if (r.status !== 0) throw new Error(`${a.join(' ')} failed (${r.status}): ${r.stderr}`)
  }
  return (childrenCpuMs() - c0) / batch
}

export function agentStartup({rounds = 7, batch = 10} = {}): AgentStartupResult {
  // The run's files (state folder, lock, journal) on a disk like a jumphost's, as the fan-out's hosts.
  const disk = mountHostDisk('startup', 1)
  const dir = mkdtempSync(join(disk.homeRoot, 'startup-'))
  const pb = join(dir, 'one.yaml')
  writeFileSync(pb, 'name: bench\nsteps:\n  - id: s1\n    run: "true"\n')
  const agent = resolve('dist/agent/agent.mjs')
  const shipped = resolve('dist/agent-host/agent.mjs')
  let n = 0
  const env = sessionEnv()
  const out: AgentStartupResult = {agentMs: [], nodeMs: [], spawnMs: [], yamlMs: []}
  const spawnOnly = join(dir, 'spawn-only.mjs')
  writeFileSync(spawnOnly, SPAWN_ONLY)
  const yamlOnly = join(dir, 'yaml-only')
  mkdirSync(yamlOnly)
  const pbYaml = join(yamlOnly, 'one.yaml')
  writeFileSync(pbYaml, readFileSync(pb))
  try {
    const dry = spawnSync(process.execPath, [agent, 'run', '--dry-run', '--json', '-p', pb, '--state-dir', join(dir, 'dry')], {encoding: 'utf8', env})
    if (dry.status !== 0) throw new Error(`agent run --dry-run failed: ${dry.stderr}`)
    writeFileSync(compiledPath(pb), JSON.stringify(JSON.parse(dry.stdout).compiled))
    for (let i = 0; i < rounds; i++) {
      out.nodeMs.push(batchCpuMs(() => [process.execPath, '-e', '0'], batch, env))
      out.spawnMs.push(batchCpuMs(() => [process.execPath, spawnOnly], batch, env))
      out.agentMs.push(batchCpuMs(() => [process.execPath, shipped, 'run', '-p', pb, '--state-dir', join(dir, `state-${n++}`)], batch, env))
      out.yamlMs.push(batchCpuMs(() => [process.execPath, agent, 'run', '-p', pbYaml, '--state-dir', join(dir, `state-${n++}`)], batch, env))
    }
  } finally {
    disk.unmount()
  }
  return out
}

/** src/agent/launcher/node-spawn.ts and exec.ts's argv for a step of `true`, nothing else. */
const SPAWN_ONLY = `import {spawn} from 'node:child_process'
const c = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', 'true'], {detached: true, stdio: ['ignore', 'pipe', 'pipe']})
c.stdout.on('data', () => {})
c.stderr.on('data', () => {})
c.on('close', (code) => process.exit(code ?? 1))
`

export function agentStartupRow(r: AgentStartupResult) {
  const a = median(r.agentMs)
  const b = median(r.nodeMs)
  const ratio = a / b
  return {
    key: 'agent-startup',
    name: '`agent run` of a one-step playbook, as fleet ships it (compiled playbook beside it): CPU',
    fleet: `${a.toFixed(0)} ms (spread ${spread(r.agentMs).toFixed(0)})`,
    peer: `\`node -e 0\` ${b.toFixed(0)} ms (spread ${spread(r.nodeMs).toFixed(0)})`,
    ratio: ratio.toFixed(2),
    figure: `+${(a - b).toFixed(0)} ms; floor (a Node.js script that only spawns the step's bash and waits) ${median(r.spawnMs).toFixed(0)} ms = ${(median(r.spawnMs) / b).toFixed(2)} × node; without the compiled playbook (YAML parsed and checked on the host) ${median(r.yamlMs).toFixed(0)} ms`,
    target: `≤ ${STARTUP_TARGET} × node`,
    met: ratio <= STARTUP_TARGET,
  }
}
