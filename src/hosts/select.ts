import {UserError} from '../errors/user-error.js'
import type {HostSpec} from '../inventory/index.js'

/** `--only NAME,...` / `--host NAME,...`: those hosts, in the file's order; an unknown name is refused with the names there are. */
export function hostsNamed(hosts: HostSpec[], list: string, flag: string, where: string): HostSpec[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean)
  const unknown = names.filter((n) => !hosts.some((h) => h.name === n))
  if (unknown.length) throw new UserError(`${flag}: no host named ${unknown.map((n) => `"${n}"`).join(', ')} ${where} (names: ${hosts.slice(0, 8).map((h) => h.name).join(', ')}${hosts.length > 8 ? ', ...' : ''}).`)
  return hosts.filter((h) => names.includes(h.name))
}
