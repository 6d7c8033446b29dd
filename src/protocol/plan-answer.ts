import {z} from 'zod'
import {hostFacts, runMode} from './records.js'

/**
 * The answer of `agent run --dry-run --json` (and `agent undo --dry-run --json`):
 * what a run would do, rendered for this machine, nothing changed. Written by
 * the agent; read by the orchestrator, which checks a playbook with it before
 * any host is contacted and takes the bundle's file list from `files`.
 */
export const planAnswerStep = z.object({
  index: z.number().int().positive(),
  id: z.string(),
  title: z.string(),
  phase: z.string().optional(),
  enabled: z.boolean(),
  needs_root: z.boolean(),
  check: z.string().optional(),
  run: z.string().optional(),
  undo: z.string().optional(),
  verify: z.string().optional(),
  template: z.object({dest: z.string(), mode: z.string().optional(), content: z.string()}).optional(),
  wait_for: z
    .object({
      tcp: z.object({host: z.string(), port: z.number()}).optional(),
      command: z.string().optional(),
      timeout_s: z.number(),
      interval_s: z.number(),
    })
    .optional(),
  reboot: z.object({command: z.string()}).optional(),
})
export type PlanAnswerStep = z.infer<typeof planAnswerStep>

export const planAnswerArtifact = z.object({
  var: z.string(),
  kind: z.enum(['http', 'git']),
  url: z.string(),
  checksum_var: z.string().optional(),
  checksum_url: z.string().optional(),
})
export type PlanAnswerArtifact = z.infer<typeof planAnswerArtifact>

export const planAnswer = z.object({
  playbook: z.string(),
  mode: runMode,
  facts: hostFacts,
  /** The playbook's `logs:` paths, rendered for this machine. */
  logs: z.array(z.string()),
  /**
   * What the bundle carries from the playbook's folder, relative to it: the
   * playbook file, its templates and its `files:` list expanded to files.
   */
  files: z.array(z.string().min(1)),
  /** The playbook's `artifacts:`, each with its var's URL (and its checksum file's) rendered for this machine. */
  artifacts: z.array(planAnswerArtifact),
  steps: z.array(planAnswerStep),
  /**
   * The playbook compiled without the vars file (the agent's CompiledPlaybook, src/playbook/types.ts),
   * which fleet ships beside the playbook (compiledPath): the hosts' agents load it without
   * the YAML parser or the schemas. Opaque here: its reader is the agent.
   */
  compiled: z.record(z.string(), z.unknown()),
})
export type PlanAnswer = z.infer<typeof planAnswer>
