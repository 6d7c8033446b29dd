import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {UserError} from '../errors/user-error.js'
import {planAnswer, type PlanAnswerStep} from '../protocol/index.js'
import {packageRoot} from './bundle.js'

export interface LocalPlan {
  playbook: string
  steps: PlanAnswerStep[]
  logs: string[]
  /** What the bundle carries from the playbook's folder (relative paths), as the agent's dry run lists it. */
  files: string[]
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
  let json: unknown
  try {
    json = JSON.parse(r.stdout)
  } catch {
    json = undefined
  }
  const out = planAnswer.safeParse(json)
  if (!out.success) {
    const issue = out.error.issues[0]
    const where = issue ? ` (field "${issue.path.join('.') || '(top level)'}": ${issue.message})` : ''
    throw new UserError(`The agent's dry run (${join(packageRoot(), 'dist', 'agent')}) answered in a shape this fleet does not know${where}; run "npm run build".`)
  }
  return {playbook: out.data.playbook, steps: out.data.steps, logs: out.data.logs, files: out.data.files}
}
