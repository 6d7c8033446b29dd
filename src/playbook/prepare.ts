import {readFileSync} from 'node:fs'
import {resolve} from 'node:path'
import type {HostFacts} from '../protocol/index.js'
import {UserError} from '../errors/user-error.js'
import {passMissing} from './engines.js'
import {evalCondition, renderShell, renderText, type Scope} from './render.js'
import type {Playbook, Step} from './types.js'

/** A step with every template rendered: what will actually run on this host. */
export interface PreparedStep {
  step: Step
  enabled: boolean
  env: Record<string, string>
  check?: string
  run?: string
  verify?: string
  undo?: string
  template?: {content: string; dest: string; mode?: number}
  wait_for?: {tcp?: {host: string; port: number}; command?: string; timeout_s: number; interval_s: number}
  reboot?: {command: string}
}

/**
 * What templates see: the vars, `facts` and `playbook_dir`. A string var may
 * itself use facts and the vars above it (`work_dir: "{{ facts.home }}/demo"`).
 */
export function scopeFor(pb: Playbook, facts: HostFacts): Scope {
  const scope: Scope = {facts, playbook_dir: pb.dir}
  for (const [name, value] of Object.entries(pb.vars)) {
    try {
      scope[name] = typeof value === 'string' && value.includes('{') ? renderText(value, scope) : value
    } catch (e) {
      passMissing(e)
      throw new UserError(`${pb.path}: field "vars.${name}": ${(e as Error).message.replace(/, line:\d+, col:\d+$/, '')}.`)
    }
  }
  return scope
}

/**
 * Render every field of the given steps before anything runs, so a missing
 * var or a broken template is refused up front with its line.
 */
export function prepareSteps(pb: Playbook, steps: readonly Step[], facts: HostFacts): PreparedStep[] {
  const scope = scopeFor(pb, facts)
  return steps.map((step) => {
    const at = (field: string) => (fn: () => string) => {
      try {
        return fn()
      } catch (e) {
        passMissing(e)
        throw new UserError(`${pb.path}:${step.line}: field "steps[${step.id}].${field}": ${(e as Error).message.replace(/, line:\d+, col:\d+$/, '')}.`)
      }
    }
    const sh = (field: 'check' | 'run' | 'verify' | 'undo') => (step[field] === undefined ? undefined : at(field)(() => renderShell(step[field]!, scope)))
    const enabled = step.when === undefined ? true : at('when')(() => String(evalCondition(step.when!, scope))) === 'true'
    const env = Object.fromEntries(Object.entries(step.env).map(([k, v]) => [k, at(`env.${k}`)(() => renderText(v, scope))]))
    const prepared: PreparedStep = {step, enabled, env, check: sh('check'), run: sh('run'), verify: sh('verify'), undo: sh('undo')}
    if (step.template) {
      const t = step.template
      const src = readFileSync(resolve(pb.dir, t.src), 'utf8')
      prepared.template = {
        content: at('template.src')(() => renderText(src, scope)),
        dest: at('template.dest')(() => renderText(t.dest, scope)),
        mode: t.mode ? Number.parseInt(t.mode, 8) : undefined,
      }
    }
    if (step.wait_for) {
      const w = step.wait_for
      let tcp: {host: string; port: number} | undefined
      if (w.tcp) {
        const target = at('wait_for.tcp')(() => renderText(w.tcp!, scope))
        const m = target.match(/^\[?([^\]]+?)\]?:(\d+)$/)
        if (!m) throw new UserError(`${pb.path}:${step.line}: field "steps[${step.id}].wait_for.tcp": "${target}" is not host:port.`)
        tcp = {host: m[1], port: Number(m[2])}
      }
      prepared.wait_for = {tcp, command: w.command === undefined ? undefined : at('wait_for.command')(() => renderShell(w.command!, scope)), timeout_s: w.timeout_s, interval_s: w.interval_s}
    }
    if (step.reboot) prepared.reboot = {command: at('reboot.command')(() => renderShell(step.reboot!.command, scope))}
    return prepared
  })
}
