/**
 * What the agent's commands make of their flags, shared by the oclif commands
 * (commands/agent/*.ts, through agent-flags.ts) and the fast path without oclif
 * (src/cli/agent-fast.ts): so this file must not import oclif.
 */
import {resolve} from 'node:path'
import {defaultStateDir} from '../agent/state-dir.js'

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean)

export function stateDirOf(flags: {'state-dir'?: string}): string {
  return flags['state-dir'] ?? defaultStateDir()
}

export function onlyOf(flags: {only?: string}): string[] | undefined {
  return flags.only ? list(flags.only) : undefined
}

/** The flags again as arguments, to hand a detached `agent run` the same request. */
export function runArgs(flags: {playbook: string; vars?: string; 'state-dir'?: string; 'from-step'?: string; only?: string; request?: string}, mode: 'run' | 'undo', toStep?: string): string[] {
  const args = [mode, '--playbook', resolve(flags.playbook), '--state-dir', resolve(stateDirOf(flags))]
  if (flags.vars) args.push('--vars', resolve(flags.vars))
  if (flags['from-step']) args.push('--from-step', flags['from-step'])
  if (flags.only) args.push('--only', flags.only)
  if (toStep) args.push('--to-step', toStep)
  if (flags.request) args.push('--request', flags.request)
  return args
}
