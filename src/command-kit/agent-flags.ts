/** The agent's oclif flags, shared by its commands (commands/agent/*.ts). */
import {Flags} from '@oclif/core'

export {onlyOf, runArgs, stateDirOf} from './agent-args.js'

export const stateDirFlag = Flags.string({
  description: 'Where runs, journals, step logs and the lock live [default: /var/lib/fleet-agent as root, else ~/.local/state/fleet-agent].',
  env: 'FLEET_AGENT_STATE_DIR',
})

export const requestFlag = Flags.string({
  description: 'An id of the caller\'s for this start (fleet gives one per fleet run and host): a later start with the same id and inputs answers with the run it began, even one that has ended, instead of starting another.',
})

export const runFlags = {
  playbook: Flags.string({char: 'p', required: true, description: 'The playbook (YAML) to run.'}),
  vars: Flags.string({description: 'A YAML file of values for the playbook\'s vars (secrets go here).'}),
  'state-dir': stateDirFlag,
  'from-step': Flags.string({description: 'Start at this step, or at the first step of this phase.'}),
  only: Flags.string({description: 'Run only these steps or phases (comma-separated ids).'}),
  'dry-run': Flags.boolean({description: 'Show the steps and the exact commands they would run; change nothing.'}),
  json: Flags.boolean({description: 'Print NDJSON journal records instead of human progress.'}),
  'detached-child': Flags.boolean({hidden: true}),
  request: requestFlag,
}
