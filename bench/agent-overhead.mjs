// Per-step overhead of the agent: a playbook of N steps of `true` run by the
// bundled agent, against a bash loop running the same N commands the same way
// (a fresh `bash --noprofile --norc -eo pipefail -c true` each, as the agent does).
// The agent's side includes everything it does per step: journal records,
// fsync at the step boundary, the step's log file, and its own start-up.
import {mkdtempSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {mountHostDisk} from './host-disk.ts'
import {interleaved, median, spread, timeCommand} from './lib.mjs'
import {sessionEnv} from './proc.ts'

export function agentOverhead({steps = 200, rounds = 5} = {}) {
  // The journal and step logs on a disk like a jumphost's, as the fan-out's hosts.
  const disk = mountHostDisk('per-step', 1)
  const dir = mkdtempSync(join(disk.homeRoot, 'per-step-'))
  const pb = join(dir, 'steps.yaml')
  writeFileSync(pb, `name: bench\nsteps:\n${Array.from({length: steps}, (_, i) => `  - id: s${i}\n    run: "true"\n`).join('')}`)
  const agent = resolve('dist/agent/agent.mjs')
  let times
  try {
    times = interleaved(rounds, {
      agent: (i) => timeCommand([process.execPath, agent, 'run', '-p', pb, '--state-dir', join(dir, `state-${i}`)], {env: sessionEnv()}),
      bash: () => timeCommand(['bash', '-c', `for i in $(seq ${steps}); do bash --noprofile --norc -eo pipefail -c true; done`]),
    })
  } finally {
    disk.unmount()
  }
  const a = median(times.agent)
  const b = median(times.bash)
  const perStep = (a - b) / steps
  return {
    name: `agent overhead, ${steps} steps of \`true\``,
    fleet: `${a.toFixed(0)} ms (spread ${spread(times.agent).toFixed(0)})`,
    peer: `bash loop ${b.toFixed(0)} ms (spread ${spread(times.bash).toFixed(0)})`,
    ratio: (a / b).toFixed(2),
    figure: `${perStep.toFixed(2)} ms/step`,
    target: '≤ 3 ms/step',
    met: perStep <= 3,
  }
}
