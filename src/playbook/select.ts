import {UserError} from '../errors/user-error.js'
import type {Playbook, Step} from './types.js'

/** The step ids an id names: a step's own, or every step of a phase. */
function expand(pb: Playbook, id: string, flag: string): string[] {
  const phase = pb.phases.find((p) => p.id === id)
  if (phase) return phase.steps
  if (pb.steps.some((s) => s.id === id)) return [id]
  const known = [...pb.phases.map((p) => p.id), ...pb.steps.map((s) => s.id)]
  throw new UserError(`${flag}: playbook ${pb.name} has no step or phase "${id}" (it has: ${known.join(', ')}).`)
}

/**
 * The steps a run covers, in playbook order: `--only` keeps the named steps
 * and phases, `--from-step` starts at a step or at a phase's first step.
 */
export function selectSteps(pb: Playbook, only?: readonly string[], fromStep?: string): Step[] {
  let steps = pb.steps
  if (only && only.length) {
    const keep = new Set(only.flatMap((id) => expand(pb, id, '--only')))
    steps = steps.filter((s) => keep.has(s.id))
  }
  if (fromStep) {
    const first = expand(pb, fromStep, '--from-step')[0]
    const at = pb.steps.findIndex((s) => s.id === first)
    steps = steps.filter((s) => pb.steps.indexOf(s) >= at)
  }
  if (steps.length === 0) throw new UserError(`--only and --from-step together leave no step of playbook ${pb.name} to run.`)
  return steps
}

/** For undo: the steps that have an `undo`, last first, down to `--to-step` (a step or a phase's first step). */
export function selectUndoSteps(pb: Playbook, toStep?: string): Step[] {
  let steps = pb.steps
  if (toStep) {
    const first = expand(pb, toStep, '--to-step')[0]
    steps = steps.slice(pb.steps.findIndex((s) => s.id === first))
  }
  return steps.filter((s) => s.undo !== undefined).reverse()
}
