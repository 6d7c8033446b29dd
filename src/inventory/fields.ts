import type {z} from 'zod'
import type {Place} from '../errors/user-error.js'
import {InstanceId, PortText, Role, SafeName, Transport, UserName} from './schema.js'
import {checkValue, type Problem, type Sourced} from './problems.js'
import {parseJump, parseTarget, type Target} from './syntax.js'

/*
 * Turning one host's words (the address and its key=value fields, whichever
 * file format they came from) into a ParsedHost: every value checked, every
 * problem placed. Nothing here reads files or the environment.
 */

/** The fields fleet understands, by their hosts-file names. */
export const FIELD_KEYS = ['name', 'identity', 'jump', 'transport', 'port', 'user', 'role'] as const
export type FieldKey = (typeof FIELD_KEYS)[number]

export interface RawField {
  key: FieldKey
  raw: string
  /** Where it was written; `field` is the key as the user wrote it. */
  place: Place
}

export interface JumpTarget {
  host: string
  port?: number
  user?: string
}

/** One host as written in the file, before ssh config and defaults apply. */
export interface ParsedHost {
  source: {file: string; line: number}
  /** The address as written: an IP address, a DNS name, or an ssh config Host alias. */
  target: Sourced<string>
  name?: Sourced<string>
  user?: Sourced<string>
  port?: Sourced<number>
  /** As written: `~` not yet expanded, relative paths not yet resolved. */
  identityFiles: Sourced<string>[]
  /** `null`: explicitly no jump host (`jump=none`), overriding ssh config. */
  jump?: Sourced<JumpTarget | null>
  /** Absent: ssh, unless ssh config or defaults say otherwise (they do not today). */
  transport?: Sourced<Transport>
  /** `role=cache`: the room cache (any transport, SSM too); at most one per inventory (load.ts). */
  role?: Sourced<Role>
  /** False when some field of this host had a problem (it is then left out of duplicate checks). */
  valid: boolean
}

const LOOKS_LIKE_INSTANCE = /^i-[0-9a-fA-F]{5,}$/

/**
 * Build a ParsedHost from the address word and the fields. Pushes problems;
 * returns undefined only when the address itself is unusable.
 */
export function buildHost(
  source: {file: string; line: number},
  target: {text: string; place: Place},
  fields: RawField[],
  problems: Problem[],
): ParsedHost | undefined {
  const before = problems.length
  const push = (place: Place, message: string) => problems.push({...place, message})

  const parsed = parseTarget(target.text)
  for (const message of parsed.messages) push(target.place, message)
  if (!parsed.value) return undefined
  const t: Target = parsed.value

  const host: ParsedHost = {
    source,
    target: {value: t.host, place: target.place},
    identityFiles: [],
    valid: true,
  }
  if (t.user !== undefined) host.user = {value: t.user, place: target.place}
  if (t.port !== undefined) host.port = {value: t.port, place: target.place}

  // port= and user=: checked, and refused when the address gives them already (user@host:port).
  const besideAddress = <S extends z.ZodType>(schema: S, inAddress: unknown, what: string, raw: string, place: Place): Sourced<z.output<S>> | undefined => {
    const checked = checkValue(schema, raw)
    if (!checked.ok) push(place, checked.message)
    else if (inAddress !== undefined) push(place, `the address ${JSON.stringify(target.text)} already gives ${what}; give it once.`)
    else return {value: checked.value, place}
    return undefined
  }

  const seen = new Map<FieldKey, Place>()
  for (const field of fields) {
    const {key, raw, place} = field
    if (key !== 'identity' && seen.has(key)) {
      push(place, `is given twice; give it once.`)
      continue
    }
    seen.set(key, place)
    if (raw === '') {
      push(place, 'has no value.')
      continue
    }
    switch (key) {
      case 'port':
        host.port = besideAddress(PortText, t.port, 'a port', raw, place) ?? host.port
        break
      case 'user':
        host.user = besideAddress(UserName, t.user, 'a user', raw, place) ?? host.user
        break
      case 'name': {
        const checked = checkValue(SafeName, raw)
        if (checked.ok) host.name = {value: checked.value, place}
        else push(place, checked.message)
        break
      }
      case 'transport': {
        const checked = checkValue(Transport, raw)
        if (checked.ok) host.transport = {value: checked.value, place}
        else push(place, checked.message)
        break
      }
      case 'role': {
        const checked = checkValue(Role, raw)
        if (checked.ok) host.role = {value: checked.value, place}
        else push(place, checked.message)
        break
      }
      case 'identity':
        host.identityFiles.push({value: raw, place})
        break
      case 'jump': {
        const jump = parseJump(raw)
        for (const message of jump.messages) push(place, message)
        if (jump.value !== undefined) {
          const value: JumpTarget | null = jump.value && {...jump.value}
          host.jump = {value, place}
        }
        break
      }
    }
  }

  // SSM: the address is an instance id; written ids imply transport=ssm.
  if (!host.transport && InstanceId.safeParse(t.host).success) {
    host.transport = {value: 'ssm', place: target.place}
  }
  if (host.transport?.value === 'ssm') {
    const checked = checkValue(InstanceId, t.host)
    if (!checked.ok) push(target.place, checked.message)
    for (const key of ['user', 'port', 'jump'] as const) {
      const given = host[key]
      if (given) push(placeFor(given.place, key), 'does not apply to an SSM host (transport=ssm).')
    }
    for (const identity of host.identityFiles) {
      push(identity.place, 'does not apply to an SSM host (transport=ssm).')
    }
  } else if (!host.transport && LOOKS_LIKE_INSTANCE.test(t.host)) {
    push(
      target.place,
      `${JSON.stringify(t.host)} looks like an EC2 instance id but is not one ("i-" followed by 8 or 17 lowercase hex digits); add transport=ssh if it is a DNS name.`,
    )
  }

  host.valid = problems.length === before
  return host
}

/** For a value that came from the address word, name the part in the message. */
function placeFor(place: Place, key: string): Place {
  return place.field ? place : {...place, field: key}
}
