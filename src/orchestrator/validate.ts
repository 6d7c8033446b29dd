import {UserError} from '../errors/user-error.js'
import {planAnswer, type PlanAnswerArtifact, type PlanAnswerStep, type StepSelection} from '../protocol/index.js'
import {localAgentDir, runLocalAgent} from '../remote-agent/local-agent.js'
import {firstErrorLine} from '../remote-agent/shell-commands.js'

export interface LocalPlan {
  playbook: string
  steps: PlanAnswerStep[]
  logs: string[]
  /** What the bundle carries from the playbook's folder (relative paths), as the agent's dry run lists it. */
  files: string[]
  /** What the playbook fetches from the internet, its URLs rendered (what a room cache mirrors). */
  artifacts: PlanAnswerArtifact[]
  /** The playbook compiled without its vars (opaque: the agent's), shipped beside it in the bundle. */
  compiled: Record<string, unknown>
}

/**
 * Check the playbook, vars and step selection here, with the same agent the
 * hosts will run (`agent run --dry-run`), before any host is contacted. Its
 * one-sentence error is the user's.
 */
export function validateLocally(args: {mode: 'run' | 'undo'; playbook: string; vars?: string; steps: StepSelection}): LocalPlan {
  const common = {playbook: args.playbook, vars: args.vars, 'dry-run': true, json: true, 'state-dir': '/nonexistent-fleet-dry-run'}
  const {only, 'from-step': fromStep, 'to-step': toStep} = args.steps
  const r = args.mode === 'undo' ? runLocalAgent('undo', {...common, 'to-step': toStep}) : runLocalAgent('run', {...common, only, 'from-step': fromStep})
  if (r.status !== 0) throw new UserError(inFleetsWords(firstErrorLine(r.stderr)) || `the agent's dry run failed with exit code ${r.status}`)
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
    throw new UserError(`The agent's dry run (${localAgentDir()}) answered in a shape this fleet does not know${where}; run "npm run build".`)
  }
  return {playbook: out.data.playbook, steps: out.data.steps, logs: out.data.logs, files: out.data.files, artifacts: out.data.artifacts, compiled: out.data.compiled}
}

/** The agent's `--only` is fleet's `--steps` (fleet's own --only picks hosts): its sentences say the flag the user typed. */
function inFleetsWords(sentence: string): string {
  return sentence.replace(/^--only: /, '--steps: ').replace(/^--only and --from-step together/, '--steps and --from-step together')
}
