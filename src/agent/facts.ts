import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
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

/**
 * Where local facts live, like Ansible's /etc/ansible/facts.d: a system path, so
 * a step run through sudo writes what an agent running as its user reads.
 * FLEET_AGENT_FACTS_DIR points elsewhere (tests, an agent without root).
 */
export function localFactsDir(): string {
  return process.env.FLEET_AGENT_FACTS_DIR || '/etc/fleet/facts.d'
}

/** Each NAME.json of the facts directory as NAME; a file that is not JSON becomes `{error}`, so a template can say so. */
export function readLocalFacts(dir: string): Record<string, unknown> {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => /^[A-Za-z_][A-Za-z0-9_-]*\.json$/.test(n)).sort()
  } catch {
    return {}
  }
  const out: Record<string, unknown> = {}
  for (const n of names) {
    const text = read(join(dir, n))
    try {
      out[n.slice(0, -5)] = JSON.parse(text)
    } catch {
      out[n.slice(0, -5)] = {error: `${join(dir, n)} is not valid JSON`}
    }
  }
  return out
}

/** What `when` conditions and the preflight look at, gathered at the start of a run (and after a step with `refresh_facts`). */
export function gatherFacts(): HostFacts {
  const os = parseOsRelease(read('/etc/os-release'))
  const idLike = (os.ID_LIKE ?? '').split(/\s+/).filter(Boolean)
  const id = os.ID ?? 'unknown'
  const family = id === 'debian' || idLike.includes('debian') ? 'debian' : idLike.includes('rhel') || idLike.includes('fedora') || id === 'fedora' ? 'redhat' : id
  const cpuinfo = read('/proc/cpuinfo')
  const nested = ['/sys/module/kvm_intel/parameters/nested', '/sys/module/kvm_amd/parameters/nested'].some((p) => /^[Y1]/.test(read(p).trim()))
  const user = userInfo().username
  const factsDir = localFactsDir()
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
    local: readLocalFacts(factsDir),
    local_facts_dir: factsDir,
  }
}
