/**
 * What the agent's commands make of their flags, shared by the oclif commands
 * (commands/agent/*.ts, through agent-flags.ts) and the fast path without oclif
 * (src/cli/agent-fast.ts): so this file must not import oclif.
 */
import {resolve} from 'node:path'
import {defaultStateDir} from '../agent/state-dir.js'
import {UserError} from '../errors/user-error.js'

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean)

// An empty value (an unset $DIR or $STEPS in a script) would mean the current folder or
// every step: refused, not guessed at.
export function stateDirOf(flags: {'state-dir'?: string}): string {
  if (flags['state-dir']?.trim() === '') throw new UserError(`--state-dir is empty; give a folder, or leave the flag out for the default (${defaultStateDir()}).`)
  return flags['state-dir'] ?? defaultStateDir()
}

export function onlyOf(flags: {only?: string}): string[] | undefined {
  if (flags.only === undefined) return undefined
  const ids = list(flags.only)
  if (!ids.length) throw new UserError('--only names no step; give step or phase ids, comma-separated, or leave the flag out for every step.')
  return ids
}

/** The flags again as arguments, to hand a detached `agent run` the same request. */
export function runArgs(flags: {playbook: string; vars?: string; 'state-dir'?: string; 'from-step'?: string; only?: string; request?: string}, mode: 'run' | 'undo', toStep?: string): string[] {
  const args = [mode, '--playbook', resolve(flags.playbook), '--state-dir', resolve(stateDirOf(flags))]
  if (flags.vars) args.push('--vars', resolve(flags.vars))
  if (flags['from-step']) args.push('--from-step', flags['from-step'])
  if (flags.only !== undefined) args.push('--only', onlyOf(flags)!.join(','))
  if (toStep) args.push('--to-step', toStep)
  if (flags.request) args.push('--request', flags.request)
  return args
}
