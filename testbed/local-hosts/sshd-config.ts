/**
 * The sshd_config of one local host: listen on its own address only, let in its own
 * account by key only, enough sessions and start-ups for a fan-out from one machine,
 * no per-source penalties (every test connection comes from loopback). Also the
 * version probe that decides that last setting, and `sshd -t` on a generated file.
 */
import {execFile} from 'node:child_process'
import {join} from 'node:path'

import type {LocalHost} from './types.js'

let sshdVersionCache: [number, number] | undefined
async function sshdVersion(sshd: string): Promise<[number, number]> {
  if (sshdVersionCache) return sshdVersionCache
  const out = await new Promise<string>((resolve) => {
    execFile(sshd, ['-V'], (_err, stdout, stderr) => resolve(`${stdout}${stderr}`))
  })
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(out)
  sshdVersionCache = m ? [Number(m[1]), Number(m[2])] : [0, 0]
  return sshdVersionCache
}

/** Whether this sshd knows PerSourcePenalties (OpenSSH 9.8 and later). */
export async function hasPerSourcePenalties(sshd: string): Promise<boolean> {
  const [major, minor] = await sshdVersion(sshd)
  return major > 9 || (major === 9 && minor >= 8)
}

export function sshdConfig(h: LocalHost, opts: {maxSessions: number; logLevel: string; penalties: boolean}): string {
  return [
    '# fleet local host; generated, removed on stop',
    `ListenAddress ${h.address}:${h.port}`,
    `HostKey ${h.hostKeyFile}`,
    `PidFile ${join(h.dir, 'sshd.pid')}`,
    `AllowUsers ${h.user}`,
    'AuthorizedKeysFile .ssh/authorized_keys',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'PermitRootLogin no',
    'UsePAM no',
    'StrictModes yes',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowAgentForwarding no',
    // ProxyJump through a local host needs direct-tcpip channels.
    'AllowTcpForwarding yes',
    'MaxStartups 200:30:400',
    `MaxSessions ${opts.maxSessions}`,
    'MaxAuthTries 10',
    'LoginGraceTime 30',
    'Subsystem sftp internal-sftp',
    `LogLevel ${opts.logLevel}`,
    // OpenSSH >= 9.8 penalises a source address after crashes and failed logins; every
    // test connection comes from loopback, so a test of "auth fails" would lock out the rest.
    ...(opts.penalties ? ['PerSourcePenalties no'] : []),
    '',
  ].join('\n')
}

/** `sshd -t` on a generated configuration: throws with sshd's words when it refuses it. */
export async function checkSshdConfig(sshd: string, configFile: string): Promise<void> {
  const check = await new Promise<{ok: boolean; out: string}>((resolve) => {
    execFile(sshd, ['-t', '-f', configFile], (err, stdout, stderr) => resolve({ok: !err, out: `${stdout}${stderr}`}))
  })
  if (!check.ok) throw new Error(`sshd rejected the generated configuration ${configFile}: ${check.out.trim()}`)
}
