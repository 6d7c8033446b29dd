import {isIPv4, isIPv6} from 'node:net'
import {z} from 'zod'

/*
 * The inventory's zod schemas: one schema per field value as written in a
 * hosts file (their messages complete the sentence `"VALUE" <message>.`), and
 * the shapes that loadInventory returns.
 */

const PORT = 'is not a port (1-65535)'

/** A port as written: digits only, 1-65535. */
export const PortText = z
  .string()
  .regex(/^[0-9]{1,5}$/, {error: PORT})
  .transform(Number)
  .pipe(z.number().int().min(1, {error: PORT}).max(65535, {error: PORT}))

export const Port = z.number().int().min(1).max(65535)

/**
 * A remote login name. Stricter than most systems require, so that nothing
 * looking like an option or a shell word can pass (never a leading "-").
 */
export const UserName = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, {
    error: 'is not a valid user name (letters, digits, ".", "_", "-"; at most 32; not starting with "-" or ".")',
  })

/** Becomes a per-host log folder: only characters that are safe everywhere. */
export const SafeName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,255}$/, {
    error: 'is not a safe name (letters, digits, ".", "_" and "-" only, at most 255)',
  })
  .refine((s) => s !== '.' && s !== '..', {error: 'is not a usable folder name'})

/** EC2 instance ids: "i-" and 8 (old) or 17 hex digits. */
export const InstanceId = z
  .string()
  .regex(/^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, {
    error: 'is not an EC2 instance id ("i-" followed by 8 or 17 lowercase hex digits)',
  })

export const Transport = z.enum(['ssh', 'ssm'], {error: 'is not a transport (ssh or ssm)'})
export type Transport = z.infer<typeof Transport>

/** A host's part in the room: `cache` is the room cache (at most one per inventory). */
export const Role = z.enum(['cache'], {error: 'is not a role (the only one is cache)'})
export type Role = z.infer<typeof Role>

const DNS_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

function isDnsName(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s
  if (name.length === 0 || name.length > 253) return false
  const labels = name.split('.')
  // An all-numeric last label is not a DNS name; "10.0.0.300" is a bad IPv4 address.
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return false
  return labels.every((label) => DNS_LABEL.test(label))
}

/** IPv4, IPv6 (without brackets) or a DNS name (underscores tolerated). */
export const Address = z.string().superRefine((s, ctx) => {
  if (isIPv4(s) || isIPv6(s) || isDnsName(s)) return
  const message = /^[0-9.]+$/.test(s)
    ? 'is not a valid IPv4 address'
    : s.includes(':')
      ? 'is not a valid IPv6 address'
      : 'is not an IPv4 address, IPv6 address or DNS name'
  ctx.addIssue({code: 'custom', message})
})

export const SourceRef = z.object({file: z.string(), line: z.number().int().positive()})
export type SourceRef = z.infer<typeof SourceRef>

export const JumpSpec = z.object({address: Address, port: Port, user: UserName})
export type JumpSpec = z.infer<typeof JumpSpec>

/**
 * One host, fully resolved. For transport "ssm", `address` is the instance id,
 * `identityFiles` is empty, there is no jump, and `port`/`user` carry the
 * defaults only so the shape stays uniform: an SSM transport ignores them.
 */
export const HostSpec = z.object({
  name: SafeName,
  address: z.string().min(1),
  port: Port,
  user: UserName,
  identityFiles: z.array(z.string()),
  jump: JumpSpec.optional(),
  transport: Transport,
  /** `cache`: the room cache, prepared first (playbooks/cache.yaml); absent for the others. */
  role: Role.optional(),
  source: SourceRef,
})
export type HostSpec = z.infer<typeof HostSpec>

/** Where a value may come from, strongest first (see Inventory.precedence). */
export const PRECEDENCE = ['hosts-file', 'ssh-config', 'flags', 'built-in'] as const
export type PrecedenceLevel = (typeof PRECEDENCE)[number]

export const Inventory = z.object({
  file: z.string(),
  format: z.enum(['hosts', 'ansible-ini']),
  hosts: z.array(HostSpec),
  /** SSH_AUTH_SOCK is set: offer the ssh-agent's keys (before identityFiles). */
  useAgent: z.boolean(),
  agentSocket: z.string().optional(),
  /** The ssh config file consulted, or null when none was read. */
  sshConfigPath: z.string().nullable(),
  /** Which source wins for user, port, identity, jump and address: first wins. */
  precedence: z.array(z.enum(PRECEDENCE)),
  /** Things that did not stop loading but the user may want to know. */
  warnings: z.array(z.string()),
})
export type Inventory = z.infer<typeof Inventory>
