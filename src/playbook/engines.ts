/**
 * The three libraries behind playbooks: LiquidJS (templates), yaml (the full YAML
 * reader) and the zod schemas. Loading and evaluating them costs the agent more CPU at
 * start than a short run's own work, and not every command needs them all (following and
 * status need none; a playbook with no `{{`/`{%` to render needs no LiquidJS: render.ts).
 * So in the agent's build they are chunks of their own, loaded when first needed: code that needs one calls
 * engine(name), which throws EngineMissing when it is not loaded yet, and the agent runs
 * such code (which must not change anything before it is done: reading and checking a
 * playbook, rendering its steps) under withEngines(), which loads what was missing and
 * runs it again. Elsewhere (the instructor side, the tests) engines-eager.ts has loaded
 * them all with the module.
 */
import type * as LiquidJs from 'liquidjs'
import type * as Yaml from 'yaml'
import type * as Schemas from './schema.js'
import {eager} from './engines-eager.js'
import {isShippedWithout, withoutEngine} from '../errors/shipped-agent.js'

interface Engines {
  liquidjs: typeof LiquidJs
  yaml: typeof Yaml
  schemas: typeof Schemas
}
export type EngineName = keyof Engines

/** A CommonJS package's exports: named where Node.js gives them so, under `default` in the agent's bundle. */
const cjs = <T extends object>(m: T, name: keyof T): T => (m[name] ? m : (m as {default?: T}).default ?? m)

const loaders: {[K in EngineName]: () => Promise<Engines[K]>} = {
  liquidjs: () => import('liquidjs').then((m) => cjs(m, 'Liquid')),
  yaml: () => import('yaml').then((m) => cjs(m, 'parseDocument')),
  schemas: () => import('./schema.js'),
}
const loaded: Partial<Engines> = {...eager}

/** Thrown by engine() for a library not loaded yet; withEngines() loads it and runs its code again. */
export class EngineMissing extends Error {
  constructor(readonly engine: EngineName) {
    super(`internal: ${engine} is not loaded (run this under withEngines)`)
  }
}

export function engine<K extends EngineName>(name: K): Engines[K] {
  const e = loaded[name]
  if (!e) throw new EngineMissing(name)
  return e as Engines[K]
}

/** For a catch that turns errors into messages: an EngineMissing is no error of the input, let it through. */
export function passMissing(e: unknown): void {
  if (e instanceof EngineMissing) throw e
}

export async function loadEngine(name: EngineName): Promise<void> {
  try {
    ;(loaded as Record<EngineName, unknown>)[name] ??= await loaders[name]()
  } catch (e) {
    throw isShippedWithout(e) ? withoutEngine(name) : e
  }
}

/** Run `fn` (which changes nothing until it returns), loading each library it turns out to need. */
export async function withEngines<T>(fn: () => T): Promise<T> {
  for (;;) {
    try {
      return fn()
    } catch (e) {
      if (!(e instanceof EngineMissing) || loaded[e.engine]) throw e
      await loadEngine(e.engine)
    }
  }
}

/** All of them: for the agent's rarer commands (through oclif), whose code does not run under withEngines. */
export async function loadAllEngines(): Promise<void> {
  await Promise.all((Object.keys(loaders) as EngineName[]).map(loadEngine))
}
