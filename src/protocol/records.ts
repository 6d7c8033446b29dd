import {z} from 'zod'

/**
 * The journal records the agent writes on each host and the orchestrator
 * reads back. This module (with the rest of src/protocol) is the only code
 * both sides share, so every change here is a protocol change: bump
 * PROTOCOL_VERSION when a record changes shape incompatibly.
 */
import {MAX_OUTPUT_CHARS, PROTOCOL_VERSION} from './constants.js'
export {MAX_OUTPUT_CHARS, PROTOCOL_VERSION}

const base = {
  v: z.literal(PROTOCOL_VERSION),
  seq: z.number().int().positive(),
  ts: z.string(),
  run: z.string().min(1),
}

export const stepStatus = z.enum(['ok', 'skipped', 'failed'])
export type StepStatus = z.infer<typeof stepStatus>

export const runStatus = z.enum(['ok', 'failed', 'abandoned', 'interrupted'])
export type RunStatus = z.infer<typeof runStatus>

export const runMode = z.enum(['run', 'undo'])
export type RunMode = z.infer<typeof runMode>

export const hostFacts = z.object({
  hostname: z.string(),
  user: z.string(),
  home: z.string(),
  is_root: z.boolean(),
  os: z.object({
    id: z.string(),
    id_like: z.array(z.string()),
    version_id: z.string(),
    version_major: z.number(),
    pretty_name: z.string(),
    family: z.string(),
  }),
  kernel: z.string(),
  arch: z.string(),
  cpus: z.number(),
  mem_mb: z.number(),
  has_systemd: z.boolean(),
  virt: z.object({
    kvm_device: z.boolean(),
    cpu_flag: z.boolean(),
    nested: z.boolean(),
  }),
  boot_id: z.string(),
  /**
   * Local facts: each `NAME.json` in the agent's facts directory (`local_facts_dir`,
   * /etc/fleet/facts.d by default) as `local.NAME`, written by steps (a probe's
   * verdict) and read again after a step with `refresh_facts`. Journaled like every
   * fact, so they must hold no secret. Optional: older agents had none.
   */
  local: z.record(z.string(), z.unknown()).optional(),
  local_facts_dir: z.string().optional(),
})
export type HostFacts = z.infer<typeof hostFacts>

export const plannedStep = z.object({
  id: z.string(),
  title: z.string(),
  phase: z.string().optional(),
})
export type PlannedStep = z.infer<typeof plannedStep>

export const runStart = z.object({
  ...base,
  type: z.literal('run-start'),
  mode: runMode,
  playbook: z.object({name: z.string(), hash: z.string(), path: z.string()}),
  selection: z.object({only: z.array(z.string()).optional(), from_step: z.string().optional()}),
  plan: z.array(plannedStep),
  facts: hostFacts,
  agent_version: z.string(),
  pid: z.number().int(),
})

export const runResume = z.object({
  ...base,
  type: z.literal('run-resume'),
  pid: z.number().int(),
  boot_id: z.string(),
  /** Steps already journaled as ok or skipped, which this resumption will not repeat. */
  done: z.array(z.string()),
})

export const stepStart = z.object({
  ...base,
  type: z.literal('step-start'),
  step: z.string(),
  index: z.number().int().positive(),
  total: z.number().int().positive(),
  title: z.string(),
  phase: z.string().optional(),
  action: runMode,
})

export const output = z.object({
  ...base,
  type: z.literal('output'),
  step: z.string(),
  stream: z.enum(['stdout', 'stderr']),
  data: z.string().max(MAX_OUTPUT_CHARS),
})

export const stepRetry = z.object({
  ...base,
  type: z.literal('step-retry'),
  step: z.string(),
  attempt: z.number().int().positive(),
  exit_code: z.number().int().nullable(),
  error: z.string().optional(),
  delay_ms: z.number().int().nonnegative(),
})

export const stepEnd = z.object({
  ...base,
  type: z.literal('step-end'),
  step: z.string(),
  status: stepStatus,
  /** Why a step was skipped: its check passed, its `when` was false, or it has nothing to undo. */
  reason: z.enum(['check', 'when', 'no-undo', 'not-applied']).optional(),
  exit_code: z.number().int().nullable(),
  duration_ms: z.number().int().nonnegative(),
  attempts: z.number().int().nonnegative(),
  error: z.string().optional(),
})

export const reboot = z.object({
  ...base,
  type: z.literal('reboot'),
  step: z.string(),
  boot_id: z.string(),
})

export const runEnd = z.object({
  ...base,
  type: z.literal('run-end'),
  status: runStatus,
  duration_ms: z.number().int().nonnegative(),
  failed_step: z.string().optional(),
  error: z.string().optional(),
})

export const journalRecord = z.discriminatedUnion('type', [
  runStart,
  runResume,
  stepStart,
  output,
  stepRetry,
  stepEnd,
  reboot,
  runEnd,
])

export type JournalRecord = z.infer<typeof journalRecord>
export type RunStartRecord = z.infer<typeof runStart>
export type RunResumeRecord = z.infer<typeof runResume>
export type StepStartRecord = z.infer<typeof stepStart>
export type OutputRecord = z.infer<typeof output>
export type StepRetryRecord = z.infer<typeof stepRetry>
export type StepEndRecord = z.infer<typeof stepEnd>
export type RebootRecord = z.infer<typeof reboot>
export type RunEndRecord = z.infer<typeof runEnd>

/** A record before the journal stamps it with v, seq, ts and run. */
export type RecordBody = JournalRecord extends infer R
  ? R extends JournalRecord
    ? Omit<R, 'v' | 'seq' | 'ts' | 'run'>
    : never
  : never
