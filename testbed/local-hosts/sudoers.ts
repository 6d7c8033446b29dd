/**
 * Passwordless sudo for a set's accounts: one file per set in /etc/sudoers.d, checked
 * with visudo before it takes effect (a broken sudoers file would lock root out of
 * sudo on this machine), removed when the set stops.
 */
import {execFile} from 'node:child_process'
import {mkdir, rename, rm, writeFile} from 'node:fs/promises'

import {systemTool} from '../machine/users.js'

/** The sudoers file of the set with this account prefix. */
export const sudoersFileFor = (prefix: string): string => `/etc/sudoers.d/fleet-localhosts-${prefix}`

export async function installSudoers(file: string, users: string[]): Promise<void> {
  const visudo = systemTool('visudo')!
  const text =
    '# fleet local hosts: passwordless sudo for the loopback test accounts; removed on stop\n' +
    users.map((u) => `${u} ALL=(ALL:ALL) NOPASSWD: ALL\n`).join('')
  await mkdir('/etc/sudoers.d', {recursive: true, mode: 0o750})
  // sudo ignores names in sudoers.d that end in "~": stage there, check, rename into place.
  const staged = `${file}~`
  await writeFile(staged, text, {mode: 0o440})
  const check = await new Promise<{ok: boolean; out: string}>((resolve) => {
    execFile(visudo, ['-cf', staged], (err, stdout, stderr) => resolve({ok: !err, out: `${stdout}${stderr}`}))
  })
  if (!check.ok) {
    await rm(staged, {force: true})
    throw new Error(`visudo rejected the generated sudoers file: ${check.out.trim()}`)
  }
  await rename(staged, file)
}
