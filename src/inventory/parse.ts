import {isIPv6} from 'node:net'
import {parseAnsibleIni, sectionHeader} from './ansible-ini.js'
import type {ParsedHost} from './fields.js'
import {parseHostLines} from './hosts-lines.js'
import type {Problem} from './problems.js'

export type HostsFormat = 'hosts' | 'ansible-ini'

export interface ParsedHosts {
  format: HostsFormat
  /** In file order; a host with problems is still listed when its address was usable. */
  hosts: ParsedHost[]
  problems: Problem[]
  warnings: string[]
}

/**
 * Which format a text is in: an Ansible INI inventory has `[group]` headers
 * (a whole line in brackets that is not an IPv6 address) or `ansible_*=` variables.
 */
export function detectFormat(lines: string[]): HostsFormat {
  for (const line of lines) {
    const trimmed = line.trim()
    const header = sectionHeader(trimmed)
    if (header !== undefined && !isIPv6(header)) return 'ansible-ini'
    if (/(^|\s)ansible_[A-Za-z0-9_]*=/.test(trimmed.replace(/#.*/, ''))) return 'ansible-ini'
  }
  return 'hosts'
}

/**
 * Parse a hosts file's text (either format) without touching the file system
 * or the environment: no ssh config, no defaults, no `~` expansion. `file` is
 * only used to place problems.
 */
export function parseHostsText(text: string, file: string): ParsedHosts {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  const firstLine = lines.findIndex((l) => l.trim() !== '' && !/^\s*[#;]/.test(l))
  if (firstLine >= 0 && /^(---|[A-Za-z_][A-Za-z0-9_-]*:)\s*$/.test(lines[firstLine]!.trim())) {
    return {
      format: 'hosts',
      hosts: [],
      problems: [{file, line: firstLine + 1, message: 'this looks like a YAML inventory; fleet reads hosts files and Ansible INI inventories only.'}],
      warnings: [],
    }
  }
  const format = detectFormat(lines)
  if (format === 'ansible-ini') return {format, ...parseAnsibleIni(lines, file)}
  return {format, warnings: [], ...parseHostLines(lines, file)}
}
