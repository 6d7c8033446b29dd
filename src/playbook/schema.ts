import {z} from 'zod'

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'must be lower-case letters, digits, ".", "_" or "-", starting with a letter or digit')

/** Seconds, as a positive number. */
const seconds = z.number().positive()

const varValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.unknown()), z.record(z.string(), z.unknown()), z.null()])

/** A var is a plain value, or `{secret: true, value?, description?}` for secrets and documented vars. */
const varSpec = z.union([
  z
    .object({
      secret: z.boolean().optional(),
      value: varValue.optional(),
      description: z.string().optional(),
    })
    .strict()
    .refine((v) => v.secret !== undefined || v.description !== undefined || v.value !== undefined, {
      message: 'a var given as a map needs "value", "secret" or "description"',
    }),
  varValue,
])

const templateAction = z
  .object({
    src: z.string().min(1),
    dest: z.string().min(1),
    mode: z
      .string()
      .regex(/^0?[0-7]{3,4}$/, 'must be an octal mode such as "0644"')
      .optional(),
  })
  .strict()

const waitForAction = z
  .object({
    /** "host:port"; checked once rendered, as it may use vars. */
    tcp: z.string().min(1).optional(),
    command: z.string().min(1).optional(),
    timeout: seconds.optional(),
    interval: seconds.optional(),
  })
  .strict()
  .refine((w) => (w.tcp === undefined) !== (w.command === undefined), {message: 'needs exactly one of "tcp" or "command"'})

const rebootAction = z
  .object({
    command: z.string().min(1).optional(),
  })
  .strict()

export const stepSchema = z
  .object({
    id,
    title: z.string().min(1).optional(),
    when: z.string().min(1).optional(),
    needs_root: z.boolean().optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), z.string()).optional(),
    timeout: seconds.optional(),
    retries: z.number().int().min(0).max(100).optional(),
    retry_delay: z.number().min(0).optional(),
    check: z.string().min(1).optional(),
    run: z.string().min(1).optional(),
    verify: z.string().min(1).optional(),
    undo: z.string().min(1).optional(),
    template: templateAction.optional(),
    wait_for: waitForAction.optional(),
    reboot: rebootAction.optional(),
    /** After this step (ok or skipped), gather the facts again and render the steps after it anew: it wrote a local fact they use. */
    refresh_facts: z.boolean().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const actions = (['run', 'template', 'wait_for', 'reboot'] as const).filter((k) => s[k] !== undefined)
    if (actions.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: actions.length === 0 ? 'needs one of "run", "template", "wait_for" or "reboot"' : `has both "${actions[0]}" and "${actions[1]}"; a step does one thing`,
      })
    }
  })

export const phaseSchema = z
  .object({
    id,
    title: z.string().min(1).optional(),
    steps: z.array(stepSchema).min(1),
  })
  .strict()

const varName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a var name (letters, digits, "_")')

/**
 * Something the playbook fetches from the internet, named by the var that holds its URL
 * (the URL lives in one place): what a room cache mirrors and warms, and where fleet
 * points the hosts instead (src/room-cache). `checksum_var`: the var holding the URL of its
 * checksum file (a single sum or a SHA256SUMS-style list), fetched the same way.
 */
const artifactSchema = z
  .object({
    var: varName,
    kind: z.enum(['http', 'git'], {error: 'must be "http" (a file) or "git" (a repository)'}),
    checksum_var: varName.optional(),
  })
  .strict()

export const playbookSchema = z
  .object({
    name: id,
    description: z.string().optional(),
    vars: z.record(varName, varSpec).optional(),
    /** Paths (templated) that `fleet collect-logs` fetches besides the agent's own logs. */
    logs: z.array(z.string().min(1)).optional(),
    /** Files and folders beside the playbook that steps use (`{{ playbook_dir }}/PATH`); with the playbook and its templates, all the bundle holds. */
    files: z.array(z.string().min(1)).optional(),
    artifacts: z.array(artifactSchema).optional(),
    defaults: z
      .object({
        timeout: seconds.optional(),
        retries: z.number().int().min(0).max(100).optional(),
        retry_delay: z.number().min(0).optional(),
        needs_root: z.boolean().optional(),
      })
      .strict()
      .optional(),
    phases: z.array(phaseSchema).min(1).optional(),
    steps: z.array(stepSchema).min(1).optional(),
  })
  .strict()
  .refine((p) => (p.phases === undefined) !== (p.steps === undefined), {message: 'needs either "steps" or "phases" (not both)'})

export const varsFileSchema = z.record(z.string(), varValue)

export type StepSpec = z.infer<typeof stepSchema>
export type PlaybookSpec = z.infer<typeof playbookSchema>
export type ArtifactSpec = z.infer<typeof artifactSchema>
