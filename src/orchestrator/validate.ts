import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {UserError} from '../errors/user-error.js'
import {packageRoot} from './bundle.js'

export interface PlanStep {
  index: number
  id: string
  title: string
  phase?: string
}

export interface LocalPlan {
  playbook: string
  steps: PlanStep[]
  logs: string[]
}

/**
 * Check the playbook, vars and step selection here, with the same agent the
 * hosts will run (`agent run --dry-run`), before any host is contacted. Its
 * one-sentence error is the user's.
 */
export function validateLocally(args: {mode: 'run' | 'undo'; playbook: string; vars?: string; agentArgs: string[]}): LocalPlan {
  const agentArgs = [join(packageRoot(), 'dist', 'agent', 'agent.mjs'), args.mode, '--playbook', args.playbook, '--dry-run', '--json', '--state-dir', '/nonexistent-fleet-dry-run', ...args.agentArgs]
  if (args.vars) agentArgs.push('--vars', args.vars)
  const r = spawnSync(process.execPath, agentArgs, {encoding: 'utf8', env: {...process.env, NODE_ENV: 'production'}})
  if (r.status !== 0) {
    const line = r.stderr.split('\n').find((l) => l.trim()) ?? `the agent's dry run failed with exit code ${r.status}`
    throw new UserError(line.replace(/^Error: /, ''))
  }
  const out = JSON.parse(r.stdout) as {playbook: string; steps: PlanStep[]; logs?: string[]}
  return {playbook: out.playbook, steps: out.steps, logs: out.logs ?? []}
}
