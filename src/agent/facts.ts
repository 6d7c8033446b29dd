import {existsSync, readFileSync} from 'node:fs'
import {arch, cpus, homedir, hostname, release, totalmem, userInfo} from 'node:os'
import type {HostFacts} from '../protocol/index.js'

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/** Parse /etc/os-release (KEY=value, optionally quoted). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = line.match(/^([A-Z_]+)=(.*)$/)
    if (m) out[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2')
  }
  return out
}

/** The boot id changes at every boot: how the agent tells a reboot happened. */
export function bootId(): string {
  const override = process.env.FLEET_AGENT_BOOT_ID_FILE // lets tests stand in for a reboot
  return read(override || '/proc/sys/kernel/random/boot_id').trim() || 'unknown'
}

/** What `when` conditions and the preflight look at, gathered once per run. */
export function gatherFacts(): HostFacts {
  const os = parseOsRelease(read('/etc/os-release'))
  const idLike = (os.ID_LIKE ?? '').split(/\s+/).filter(Boolean)
  const id = os.ID ?? 'unknown'
  const family = id === 'debian' || idLike.includes('debian') ? 'debian' : idLike.includes('rhel') || idLike.includes('fedora') || id === 'fedora' ? 'redhat' : id
  const cpuinfo = read('/proc/cpuinfo')
  const nested = ['/sys/module/kvm_intel/parameters/nested', '/sys/module/kvm_amd/parameters/nested'].some((p) => /^[Y1]/.test(read(p).trim()))
  const user = userInfo().username
  return {
    hostname: hostname(),
    user,
    home: homedir(),
    is_root: process.getuid?.() === 0,
    os: {
      id,
      id_like: idLike,
      version_id: os.VERSION_ID ?? '',
      version_major: Number.parseInt(os.VERSION_ID ?? '0', 10) || 0,
      pretty_name: os.PRETTY_NAME ?? id,
      family,
    },
    kernel: release(),
    arch: arch(),
    cpus: cpus().length,
    mem_mb: Math.round(totalmem() / 1024 / 1024),
    has_systemd: existsSync('/run/systemd/system'),
    virt: {
      kvm_device: existsSync('/dev/kvm'),
      cpu_flag: /\b(vmx|svm)\b/.test(cpuinfo),
      nested,
    },
    boot_id: bootId(),
  }
}
