import {resolve} from 'node:path'
import {Flags} from '@oclif/core'
import {defaultStateDir} from '../agent/state-dir.js'

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean)

export const stateDirFlag = Flags.string({
  description: 'Where runs, journals, step logs and the lock live [default: /var/lib/fleet-agent as root, else ~/.local/state/fleet-agent].',
  env: 'FLEET_AGENT_STATE_DIR',
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
}

export function stateDirOf(flags: {'state-dir'?: string}): string {
  return flags['state-dir'] ?? defaultStateDir()
}

export function onlyOf(flags: {only?: string}): string[] | undefined {
  return flags.only ? list(flags.only) : undefined
}

/** The flags again as arguments, to hand a detached `agent run` the same request. */
export function runArgs(flags: {playbook: string; vars?: string; 'state-dir'?: string; 'from-step'?: string; only?: string}, mode: 'run' | 'undo', toStep?: string): string[] {
  const args = [mode, '--playbook', resolve(flags.playbook), '--state-dir', resolve(stateDirOf(flags))]
  if (flags.vars) args.push('--vars', resolve(flags.vars))
  if (flags['from-step']) args.push('--from-step', flags['from-step'])
  if (flags.only) args.push('--only', flags.only)
  if (toStep) args.push('--to-step', toStep)
  return args
}
