import type {ArtifactSpec} from './schema.js'
/** A playbook after loading: validated, defaults applied, phases flattened. */
export interface Step {
  id: string
  title: string
  phase?: string
  when?: string
  needs_root: boolean
  env: Record<string, string>
  timeout_s: number
  retries: number
  retry_delay_s: number
  check?: string
  run?: string
  verify?: string
  undo?: string
  template?: {src: string; dest: string; mode?: string}
  wait_for?: {tcp?: string; command?: string; timeout_s: number; interval_s: number}
  reboot?: {command: string}
  /** Gather the facts again after this step, and render the steps after it with them. */
  refresh_facts: boolean
  line: number
}

export interface Phase {
  id: string
  title: string
  steps: string[]
}

export interface Playbook {
  name: string
  description?: string
  /** Absolute path of the playbook file; templates are found beside it. */
  path: string
  dir: string
  /** sha256 over the playbook file and every template it uses. */
  hash: string
  vars: Record<string, unknown>
  /** Names of the vars marked secret, and their values, to redact. */
  secrets: string[]
  secretValues: string[]
  /** sha256 over the effective var values, so a resumed run knows its inputs did not change. */
  varsHash: string
  logs: string[]
  /** What the bundle ships from the playbook's folder: the playbook, its templates and the `files:` list expanded; paths relative to `dir`, sorted, unique. */
  bundleFiles: string[]
  /** What it fetches from the internet (`artifacts:`), each by the var holding its URL. */
  artifacts: ArtifactSpec[]
  phases: Phase[]
  steps: Step[]
}

export const DEFAULT_TIMEOUT_S = 1800
export const DEFAULT_RETRY_DELAY_S = 2
export const DEFAULT_WAIT_TIMEOUT_S = 300
export const DEFAULT_WAIT_INTERVAL_S = 1
export const DEFAULT_REBOOT_COMMAND = 'systemctl reboot || shutdown -r now || reboot'

/** What the playbook's `vars:` declare (CompiledPlaybook.varSpecs). */
export interface CompiledVarSpecs {
  names: string[]
  defaults: Record<string, unknown>
  secrets: string[]
  /** Declared without a value: the vars file must give them. */
  required: string[]
  /** Each var's line in the playbook, for messages. */
  lines: Record<string, number>
}

/** Bumped when CompiledPlaybook changes shape: a host ignores a compiled playbook of another format. */
export const COMPILED_FORMAT = 1

/**
 * A playbook checked and compiled, without its vars file (src/playbook/load.ts compilePlaybook):
 * the instructor's dry run ships it to the hosts as JSON beside the playbook, so a host's
 * agent needs neither the YAML parser nor the schemas to load it. Paths are the host's own.
 */
export interface CompiledPlaybook extends Omit<Playbook, 'path' | 'dir' | 'vars' | 'secrets' | 'secretValues' | 'varsHash'> {
  format: typeof COMPILED_FORMAT
  varSpecs: CompiledVarSpecs
}
