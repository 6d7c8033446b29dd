import {accessSync, constants} from 'node:fs'
import {nodeLaunch} from './node-spawn.js'
import {PythonLauncher, type LaunchRequest} from './python-launcher.js'
import type {ChildEvents} from './types.js'

/**
 * The launcher pays only from about the 17th command: starting it costs ~13 ms of CPU
 * (python and its spawn), and each command it starts ~0.7 ms less than Node's spawn
 * (measured here with 1- and 40-step runs of `true`). Most runs on a host re-check a
 * playbook that is done, or run a short one, and never start it.
 */
export const NODE_FIRST = 16
let started = 0
let launcher: PythonLauncher | undefined
/** Why the python launcher is not used any more, once it failed to start or kept dying. */
let unusable: string | undefined
let deaths = 0
const MAX_DEATHS = 3

/**
 * Which way commands start: FLEET_AGENT_LAUNCHER=python (the launcher, or an
 * error), node (Node's spawn), or unset: Node's spawn for a run's first
 * NODE_FIRST commands, then the launcher when python3 can run it, else Node's
 * spawn. FLEET_AGENT_PYTHON names the interpreter.
 */
export function launch(argv: string[], env: NodeJS.ProcessEnv, stdin: string | undefined, events: ChildEvents): void {
  const mode = process.env.FLEET_AGENT_LAUNCHER || 'auto'
  if (mode !== 'python' && mode !== 'auto' && mode !== 'node') return events.failed(new Error(`FLEET_AGENT_LAUNCHER is "${mode}"; it must be python or node`))
  if (mode === 'node' || (mode === 'auto' && ++started <= NODE_FIRST)) return nodeLaunch(argv, env, stdin, events)
  if (unusable) {
    if (mode === 'python') return events.failed(new Error(`FLEET_AGENT_LAUNCHER=python, but ${unusable}`))
    return nodeLaunch(argv, env, stdin, events)
  }
  if (!launcher || launcher.dead) launcher = new PythonLauncher(pythonPath(), onGone)
  launcher.launch({argv, env, stdin, events})
}

/** For a signal to the agent: reach the commands the launcher started but has not reported yet. */
export function killAllLaunched(signal: NodeJS.Signals): void {
  launcher?.killAll(signal)
}

/** The running launcher's pid (the parent of the commands it starts), if one is up. */
export function launcherPid(): number | undefined {
  return launcher && !launcher.dead ? launcher.pid : undefined
}

function onGone(gone: PythonLauncher, reason: string, unstarted: LaunchRequest[]): void {
  if (gone.pid === undefined) unusable = `the python launcher could not start: ${reason}`
  else if (++deaths >= MAX_DEATHS) unusable = `the python launcher stopped ${deaths} times (last: ${reason})`
  for (const r of unstarted) launch(r.argv, r.env, r.stdin, r.events)
}

function pythonPath(): string {
  if (process.env.FLEET_AGENT_PYTHON) return process.env.FLEET_AGENT_PYTHON
  // The system python starts in ~7 ms; a python3 earlier on PATH may be a shim (pyenv's takes ~0.6 s).
  try {
    accessSync('/usr/bin/python3', constants.X_OK)
    return '/usr/bin/python3'
  } catch {
    return 'python3'
  }
}
