/**
 * What a start checks before it touches the machine: the options (count, prefix, port)
 * and what local hosts need (root, an sshd binary, sudo), each refused with one
 * sentence (a UserError) that says what to change or install.
 */
import {existsSync} from 'node:fs'

import {UserError} from '../../src/errors/user-error.js'
import {systemTool} from '../machine/users.js'
import {MAX_HOSTS} from './addresses.js'

/** The count, prefix and port of a start; returns the width of the hosts' numbers (001…). */
export function checkOptions(count: number, prefix: string, port: number): number {
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new UserError(`local hosts: count must be a whole number from 1 to ${MAX_HOSTS}, got ${count}`)
  }
  const width = Math.max(3, String(count).length)
  if (!/^[a-z_][a-z0-9_-]*$/.test(prefix) || prefix.length + width > 32) {
    throw new UserError(`local hosts: prefix "${prefix}" must be lower-case letters, digits, "-" or "_", start with a letter, and leave room for ${width} digits in a 32-character user name`)
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`local hosts: port must be 1..65535, got ${port}`)
  return width
}

/** A network namespace to run the sshds in: it exists, nsenter is there, one address per host. Returns the command prefix that enters it. */
export function checkNetns(netns: {name: string; addresses: string[]}, count: number): string[] {
  const path = `/run/netns/${netns.name}`
  if (!/^[\w.-]+$/.test(netns.name) || !existsSync(path)) throw new UserError(`local hosts: network namespace "${netns.name}" does not exist (no ${path}); make it first with: ip netns add ${netns.name}`)
  if (netns.addresses.length < count) throw new UserError(`local hosts: ${count} hosts in network namespace "${netns.name}" need ${count} addresses, got ${netns.addresses.length}`)
  const nsenter = systemTool('nsenter')
  if (!nsenter) throw new UserError('nsenter was not found: local hosts in a network namespace start their sshds through it. Install it with: apt-get install util-linux')
  return [nsenter, `--net=${path}`]
}

/** Root, the sshd binary and (when the accounts get sudo) sudo and visudo. */
export function preflight(sshd: string, sudo: boolean): void {
  if (process.getuid?.() !== 0) {
    throw new UserError('Local hosts need root: they create Unix accounts, sudoers entries and sshd servers. Run as root (for example with sudo).')
  }
  if (!existsSync(sshd)) {
    throw new UserError(`${sshd} was not found: local hosts run real OpenSSH servers. Install it with: apt-get install openssh-server`)
  }
  if (sudo && (!systemTool('sudo') || !systemTool('visudo'))) {
    throw new UserError('sudo was not found: local hosts give their accounts passwordless sudo. Install it with: apt-get install sudo')
  }
}
