/**
 * The workshop playbook as data: it loads, its phases are the issue's, every step that changes
 * something can be undone, `when` picks the right steps per OS, and what the Bifrost and
 * bootstrap phases would run (they need the internet, so no test here runs them) is exactly
 * what the vars say: checked on the bundled agent's dry run. Also the helper scripts that have
 * logic of their own (preflight addresses, the Ironic wait) on real processes.
 */
import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {loadPlaybook} from '../../src/playbook/load.js'
import {prepareSteps, scopeFor} from '../../src/playbook/prepare.js'
import type {HostFacts} from '../../src/protocol/index.js'
import {agent} from '../helpers/agent-cli.js'

const PLAYBOOK = resolve('playbooks/workshop.yaml')
const FILES = resolve('playbooks/workshop/files')
const PYTHON = '/usr/bin/python3'
const dir = mkdtempSync(join(tmpdir(), 'fleet-workshop-unit-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function varsFile(name: string, lines: string[]): string {
  const f = join(dir, name)
  writeFileSync(f, lines.join('\n') + '\n')
  return f
}

const baseVars = varsFile('base.yaml', ['bmc_password: unit-Secret-9', 'work_dir: /srv/ws'])

/** The KVM probe's verdict (facts.local.virt) as step virt-probe writes it; none before it ran. */
type Verdict = {domain_type: 'kvm' | 'qemu'; cpu_mode: string | null; cpu_model: string | null}
const KVM_HOST_MODEL: Verdict = {domain_type: 'kvm', cpu_mode: 'host-model', cpu_model: null}
const TCG: Verdict = {domain_type: 'qemu', cpu_mode: null, cpu_model: null}

function facts(over: {id: string; version: string; kvm: boolean; systemd: boolean; virt?: Verdict}): HostFacts {
  return {
    hostname: 'jump01',
    user: 'ubuntu',
    home: '/home/ubuntu',
    is_root: false,
    os: {id: over.id, id_like: over.id === 'ubuntu' ? ['debian'] : [], version_id: over.version, version_major: Number.parseInt(over.version, 10), pretty_name: `${over.id} ${over.version}`, family: 'debian'},
    kernel: '6.8.0',
    arch: 'x64',
    cpus: 8,
    mem_mb: 32000,
    has_systemd: over.systemd,
    virt: {kvm_device: over.kvm, cpu_flag: over.kvm, nested: over.kvm},
    boot_id: 'b',
    local: over.virt ? {virt: {usable: true, ...over.virt}} : {},
    local_facts_dir: '/etc/fleet/facts.d',
  } as HostFacts
}

describe('playbooks/workshop.yaml', () => {
  const pb = loadPlaybook(PLAYBOOK, baseVars)

  it('has exactly the issue phases, in order', () => {
    expect(pb.phases.map((p) => p.id)).toEqual(['preflight', 'host', 'infra', 'bmc', 'inventory', 'bifrost', 'bootstrap'])
    expect(pb.secrets).toEqual(['bmc_password'])
  })

  it('gives every step a check (or a built-in that checks itself), and an undo to every step that changes the host', () => {
    for (const s of pb.steps) expect(s.check !== undefined || s.template !== undefined || s.wait_for !== undefined, s.id).toBe(true)
    const withoutUndo = pb.steps.filter((s) => s.undo === undefined).map((s) => s.id)
    // Read-only steps, waits, and what the guide's cleanup keeps (packages, the Bifrost install,
    // the bootstrapped nodes, which undeploying wipes anyway).
    expect(withoutUndo.sort()).toEqual(
      [
        ...pb.phases.find((p) => p.id === 'preflight')!.steps,
        'packages-debian',
        'packages-ubuntu',
        'libvirtd-systemd',
        'bifrost-install',
        'ironic-packages',
        'ironic-deploy',
        'bifrost-wait-active',
        'bifrost-ssh',
        'bootstrap-configure',
        'bootstrap-reboot',
      ].sort(),
    )
  })

  it('refuses to run without the BMC password, and says where to give it', () => {
    expect(() => loadPlaybook(PLAYBOOK)).toThrow(/vars\.bmc_password.*has no value; give it in the vars file/)
  })

  it('on Ubuntu 24.04 with a KVM that runs host-model and systemd: Ubuntu packages, systemd units, kvm domains', () => {
    const f = facts({id: 'ubuntu', version: '24.04', kvm: true, systemd: true, virt: KVM_HOST_MODEL})
    const steps = Object.fromEntries(prepareSteps(pb, pb.steps, f).map((p) => [p.step.id, p]))
    expect(steps['packages-ubuntu']!.enabled).toBe(true)
    expect(steps['packages-debian']!.enabled).toBe(false)
    expect(steps['libvirtd-systemd']!.enabled).toBe(true)
    expect(steps['libvirtd-direct']!.enabled).toBe(false)
    expect(steps['vbmcd-systemd']!.enabled).toBe(true)
    expect(steps['vbmcd-direct']!.enabled).toBe(false)
    expect(steps['virshbmc']!.enabled).toBe(false)
    expect(steps['vbmcd-unit']!.template!.content).toContain('ExecStart=/opt/fleet-workshop/vbmc/bin/vbmcd --foreground')
    const domains = steps['domains-xml']!.template!.content
    expect(domains.match(/<domain type='kvm'>/g)).toHaveLength(2)
    expect(domains).toContain("<cpu mode='host-model'>")
    expect(scopeFor(pb, f).deploy_timeout).toBe('2400')
    expect(steps['kvm-access']!.enabled).toBe(true)
  })

  it('follows the probe, not the device: a named CPU model, host-passthrough, or emulation on a host with /dev/kvm', () => {
    const domainsWith = (virt?: Verdict) => {
      const f = facts({id: 'ubuntu', version: '24.04', kvm: true, systemd: true, virt})
      const steps = Object.fromEntries(prepareSteps(pb, pb.steps, f).map((p) => [p.step.id, p]))
      return {xml: steps['domains-xml']!.template!.content, scope: scopeFor(pb, f), domains: steps['domains']!.run!}
    }
    const custom = domainsWith({domain_type: 'kvm', cpu_mode: 'custom', cpu_model: 'kvm64'})
    expect(custom.xml.match(/<domain type='kvm'>/g)).toHaveLength(2)
    expect(custom.xml).toMatch(/<cpu mode='custom' match='exact' check='none'>\s*<model fallback='forbid'>kvm64<\/model>/)
    expect(custom.xml).not.toContain('host-model')
    const passthrough = domainsWith({domain_type: 'kvm', cpu_mode: 'host-passthrough', cpu_model: null})
    expect(passthrough.xml).toContain("<cpu mode='host-passthrough'/>")
    // /dev/kvm is there but no CPU mode ran a guest, and emulation is allowed: TCG and its waits.
    const tcg = domainsWith(TCG)
    expect(tcg.xml.match(/<domain type='qemu'>/g)).toHaveLength(2)
    expect(tcg.xml).not.toContain('<cpu')
    expect([tcg.scope.deploy_timeout, tcg.scope.callback_timeout]).toEqual(['7200', '2700'])
    // Before the probe ran (the up-front render of a first run) the type is unknown, and the
    // domains step refuses to define anything with it.
    const before = domainsWith(undefined)
    expect(before.scope.domain_type).toBe('unknown')
    const r = spawnSync('bash', ['-c', before.domains], {encoding: 'utf8'})
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('No usable verdict of the KVM probe in /etc/fleet/facts.d/virt.json: run the host phase first (step virt-probe).')
    expect(pb.steps.find((s) => s.id === 'virt-probe')!.refresh_facts).toBe(true)
  })

  it('on Debian 12 without KVM or systemd: Debian packages, libvirtd as a daemon, qemu domains, longer waits', () => {
    const f = facts({id: 'debian', version: '12', kvm: false, systemd: false, virt: TCG})
    const steps = Object.fromEntries(prepareSteps(pb, pb.steps, f).map((p) => [p.step.id, p]))
    expect(steps['packages-debian']!.enabled).toBe(true)
    expect(steps['packages-ubuntu']!.enabled).toBe(false)
    expect(steps['libvirtd-direct']!.enabled).toBe(true)
    expect(steps['libvirtd-systemd']!.enabled).toBe(false)
    expect(steps['vbmcd-direct']!.enabled).toBe(true)
    const domains = steps['domains-xml']!.template!.content
    expect(domains.match(/<domain type='qemu'>/g)).toHaveLength(2)
    expect(domains).not.toContain('<cpu')
    expect(scopeFor(pb, f).deploy_timeout).toBe('7200')
    expect(steps['kvm-access']!.enabled).toBe(false)
  })

  it('accepts Ubuntu 24.04, 22.04 and Debian 12 in its OS preflight, and nothing else', () => {
    const verdict = (id: string, version: string) => {
      const check = prepareSteps(pb, [pb.steps.find((s) => s.id === 'preflight-os')!], facts({id, version, kvm: true, systemd: true}))[0]!.check!
      return spawnSync('bash', ['-c', check]).status
    }
    expect([verdict('ubuntu', '24.04'), verdict('ubuntu', '22.04'), verdict('debian', '12')]).toEqual([0, 0, 0])
    expect([verdict('ubuntu', '20.04'), verdict('debian', '11'), verdict('centos', '9')]).toEqual([1, 1, 1])
  })
})

describe('dry run of the bifrost and bootstrap phases (the exact commands and files)', () => {
  const vars = varsFile('room.yaml', [
    'bmc_password: dry-Secret-7',
    'work_dir: /srv/ws',
    'bifrost_version: stable/2024.2',
    'bifrost_release: "2024.2"',
    'ipa_kernel_url: http://mirror.room.test/ipa/ipa-centos9.kernel',
    'ipa_ramdisk_url: http://mirror.room.test/ipa/ipa-centos9.initramfs',
    'deploy_image_url: http://mirror.room.test/images/noble.img',
    'deploy_image_checksum_url: http://mirror.room.test/images/SHA256SUMS',
    'dhcp_pool_start: 192.168.122.100',
    'dhcp_pool_end: 192.168.122.150',
    'node_ntp_servers: [ntp.room.test]',
  ])

  /** The facts the dry run renders with are pinned: the probe's verdict in a facts directory of the test's own. */
  const factsDir = join(dir, 'facts.d')
  mkdirSync(factsDir, {recursive: true})
  const pinVerdict = (v: Verdict) => writeFileSync(join(factsDir, 'virt.json'), JSON.stringify({usable: true, ...v}))

  async function plan(only: string): Promise<{steps: Array<Record<string, any>>; logs: string[]}> {
    const r = await agent(['run', '--playbook', PLAYBOOK, '--vars', vars, '--only', only, '--dry-run', '--json', '--state-dir', join(dir, 'no-state')], {home: dir, env: {FLEET_AGENT_FACTS_DIR: factsDir}})
    expect(r.code, r.stderr).toBe(0)
    return JSON.parse(r.stdout)
  }

  it('installs the pinned Bifrost on br_pxe with the DHCP pool and the image URLs from the vars', async () => {
    pinVerdict(TCG)
    const {steps, logs} = await plan('bifrost,bootstrap')
    const step = (id: string) => steps.find((s) => s.id === id)!
    expect(steps.filter((s) => s.enabled).map((s) => s.id)).toEqual(['bifrost-checkout', 'bifrost-install', 'bifrost-enroll', 'bifrost-deploy', 'bifrost-wait-active', 'bifrost-ssh', 'bootstrap-vars', 'bootstrap-configure', 'bootstrap-reboot'])

    const checkout = step('bifrost-checkout').run as string
    expect(checkout).toContain('dir=/srv/ws/bifrost; version=stable/2024.2')
    expect(checkout).toContain('git clone https://opendev.org/openstack/bifrost "$dir"')
    expect(checkout).toContain('checkout --detach')

    const install = step('bifrost-install').run as string
    for (const part of [
      'cd /srv/ws/bifrost',
      './bifrost-cli install',
      '--release 2024.2',
      '--network-interface br_pxe',
      '--dhcp-pool 192.168.122.100-192.168.122.150',
      '--legacy-boot',
      '-e ipa_kernel_upstream_url=http://mirror.room.test/ipa/ipa-centos9.kernel',
      '-e ipa_ramdisk_upstream_url=http://mirror.room.test/ipa/ipa-centos9.initramfs',
      '-e download_custom_deploy_image=true',
      '-e custom_deploy_image_upstream_url=http://mirror.room.test/images/noble.img',
      '-e custom_deploy_image_checksum_url=http://mirror.room.test/images/SHA256SUMS',
      '-e custom_deploy_image_checksum_algorithm=sha256',
      `-e ssh_public_key_path=${dir}/.ssh/id_ed25519.pub`,
    ]) {
      expect(install, part).toContain(part)
    }
    expect(install).not.toContain('tarballs.opendev.org')

    const enroll = step('bifrost-enroll').run as string
    expect(enroll.indexOf('inventory.py verify /srv/ws/baremetal.json --bmc')).toBeGreaterThan(-1)
    expect(enroll.indexOf('inventory.py verify')).toBeLessThan(enroll.indexOf('./bifrost-cli enroll /srv/ws/baremetal.json'))
    expect(step('bifrost-deploy').run).toContain('./bifrost-cli deploy /srv/ws/baremetal.json')

    // The probe chose emulation: the waits are the emulation ones; with KVM, the short ones.
    const wait = step('bifrost-wait-active').run as string
    expect(wait).toContain('wait_nodes.py --baremetal /opt/stack/bifrost/bin/baremetal --nodes controller00,compute00, --target active --timeout 7200 --callback-timeout 2700')
    pinVerdict(KVM_HOST_MODEL)
    const kvmWait = (await plan('bifrost-wait-active')).steps[0]!.run as string
    expect(kvmWait).toContain('--target active --timeout 2400 --callback-timeout 900')
    expect(wait).toContain('--list-file /srv/ws/baremetal-node-list.txt')
    expect(step('bifrost-ssh').run).toContain('wait_ssh.py --nodes controller00=192.168.122.3,compute00=192.168.122.4, --timeout 7200 --boot-timeout 2700')

    const bootstrapVars = JSON.parse(step('bootstrap-vars').template.content)
    expect(step('bootstrap-vars').template.dest).toBe('/srv/ws/bootstrap-vars.json')
    expect(bootstrapVars).toMatchObject({
      workshop_gateway: '192.168.122.1',
      workshop_prefixes: {pxe: 24, mgmt: 24, ext: 24},
      workshop_ntp_servers: ['ntp.room.test'],
      workshop_packages: ['git', 'curl', 'wget'],
      workshop_reboot_timeout: 180,
    })
    expect(bootstrapVars.workshop_nodes.map((n: any) => [n.name, n.pxe_address, n.mgmt_address, n.ext_address])).toEqual([
      ['controller00', '192.168.122.3', '10.10.0.3', '10.20.0.3'],
      ['compute00', '192.168.122.4', '10.10.0.4', '10.20.0.4'],
    ])
    for (const [id, tag] of [['bootstrap-configure', 'configure'], ['bootstrap-reboot', 'reboot']]) {
      const cmd = step(id!).run as string
      expect(cmd).toContain('-i /srv/ws/bifrost/playbooks/inventory/bifrost_inventory.py')
      expect(cmd).toContain(`-u ubuntu --private-key ${dir}/.ssh/id_ed25519`)
      expect(cmd).toContain('-e @/srv/ws/bootstrap-vars.json -e @/srv/ws/node-nics.json')
      expect(cmd).toContain(`--tags ${tag} ${FILES}/bootstrap.yml`)
    }
    expect(logs).toEqual(expect.arrayContaining(['/tmp/logs', '/var/log/libvirt/qemu', '/var/log/ironic', '/srv/ws/baremetal-node-list.txt', '/var/lib/misc/dnsmasq.leases']))
  })

  it('ironic_provider packages: the distribution\'s Ironic set up like Bifrost\'s, the same waits, no Bifrost step', async () => {
    pinVerdict(TCG)
    const pkgVars = varsFile('packages.yaml', ['bmc_password: dry-Secret-7', 'work_dir: /srv/ws', 'ironic_provider: packages', 'deploy_mode: ramdisk', 'dhcp_pool_start: 192.168.122.100', 'dhcp_pool_end: 192.168.122.150'])
    const r = await agent(['run', '--playbook', PLAYBOOK, '--vars', pkgVars, '--only', 'bifrost', '--dry-run', '--json', '--state-dir', join(dir, 'no-state')], {home: dir, env: {FLEET_AGENT_FACTS_DIR: factsDir}})
    expect(r.code, r.stderr).toBe(0)
    const steps = JSON.parse(r.stdout).steps as Array<Record<string, any>>
    const step = (id: string) => steps.find((s) => s.id === id)!
    expect(steps.filter((s) => s.enabled).map((s) => s.id)).toEqual([
      'ironic-packages', 'ironic-dirs', 'ironic-config', 'ironic-db', 'ironic-ramdisk', 'ironic-dhcp-hosts', 'ironic-dnsmasq-config', 'ironic-services', 'ironic-enroll', 'ironic-deploy', 'bifrost-wait-active', 'bifrost-ssh',
    ])
    expect(step('ironic-packages').run).toContain('install --no-install-recommends "${pkgs[@]}"')
    expect(step('ironic-packages').run).toMatch(/pkgs=\(ironic-api ironic-conductor python3-ironicclient /)
    const conf = step('ironic-config').template.content as string
    for (const line of ['auth_strategy = noauth', 'rpc_transport = none', 'enabled_hardware_types = ipmi', 'default_deploy_interface = ramdisk', 'automated_clean = false', 'connection = sqlite:////srv/ws/ironic/state/ironic.sqlite', 'http_url = http://192.168.122.1:8088', 'default_boot_mode = bios', 'dhcp_provider = none', 'deploy_callback_timeout = 2700']) {
      expect(conf, line).toContain(line)
    }
    const dnsmasq = step('ironic-dnsmasq-config').template.content as string
    for (const line of ['interface=br_pxe', 'dhcp-range=192.168.122.100,192.168.122.150,12h', 'conf-file=/srv/ws/ironic/dhcp-hosts.conf', 'dhcp-boot=tag:ipxe,http://192.168.122.1:8088/boot.ipxe', 'port=0']) {
      expect(dnsmasq, line).toContain(line)
    }
    expect(step('ironic-services').run).toContain('ironic --config-file "$dir/ironic.conf"')
    expect(step('bifrost-wait-active').run).toContain('wait_nodes.py --baremetal /srv/ws/ironic/baremetal --nodes controller00,compute00, --target active')
    expect(JSON.stringify(steps)).not.toContain('dry-Secret-7')

    // With the internet: IPA's direct deploy of the deploy image (checked by dry run only: no IPA here).
    const directVars = varsFile('direct.yaml', ['bmc_password: dry-Secret-7', 'work_dir: /srv/ws', 'ironic_provider: packages', 'deploy_mode: direct', 'ipa_kernel_url: http://mirror.room.test/ipa.kernel', 'deploy_image_url: http://mirror.room.test/noble.img', 'deploy_image_checksum_url: http://mirror.room.test/SHA256SUMS'])
    const d = await agent(['run', '--playbook', PLAYBOOK, '--vars', directVars, '--only', 'bifrost', '--dry-run', '--json', '--state-dir', join(dir, 'no-state')], {home: dir, env: {FLEET_AGENT_FACTS_DIR: factsDir}})
    expect(d.code, d.stderr).toBe(0)
    const dsteps = JSON.parse(d.stdout).steps as Array<Record<string, any>>
    expect(dsteps.find((x) => x.id === 'ironic-ramdisk')!.enabled).toBe(false)
    expect(dsteps.find((x) => x.id === 'ironic-config')!.template.content).toContain('default_deploy_interface = direct')
    const enroll = dsteps.find((x) => x.id === 'ironic-enroll')!
    expect(enroll.enabled).toBe(true)
    const r2 = spawnSync(PYTHON, [join(FILES, 'ironic_nodes.py')], {encoding: 'utf8'})
    expect(r2.status).toBe(2) // the script's usage: it exists and parses
  })

  it('sets up virtualbmc by default, with the BMC password redacted from the plan', async () => {
    const {steps} = await plan('bmc')
    const step = (id: string) => steps.find((s) => s.id === id)!
    expect(step('virshbmc').enabled).toBe(false)
    expect(step('vbmc-venv').run).toContain('"$venv/bin/pip" install --quiet virtualbmc==3.3.0')
    const add = step('vbmc-nodes').run as string
    expect(add).toContain('addr=192.168.122.1')
    expect(add).toContain('ports=(625 626 )')
    expect(add).toContain('--password ********')
    expect(JSON.stringify(steps)).not.toContain('dry-Secret-7')
  })
})

describe('helper scripts', () => {
  it('preflight.py addresses: one sentence per problem with the vars', () => {
    const nets = JSON.stringify([
      {role: 'pxe', name: 'pxe', bridge: 'br_pxe', address: '192.168.122.1', prefix: 24},
      {role: 'mgmt', name: 'mgmt', bridge: 'br_mgmt', address: '10.10.0.1', prefix: 24},
      {role: 'ext', name: 'ext', bridge: 'br_ext', address: '10.20.0.1', prefix: 24},
    ])
    const node = (name: string, last: number, port: number) => ({name, bmc_port: port, pxe_address: `192.168.122.${last}`, mgmt_address: `10.10.0.${last}`, ext_address: `10.20.0.${last}`})
    const check = (nodes: unknown[], start: string, end: string) =>
      spawnSync(PYTHON, [join(FILES, 'preflight.py'), 'addresses'], {
        encoding: 'utf8',
        env: {...process.env, NETWORKS_JSON: nets, NODES_JSON: JSON.stringify(nodes), BMC_ADDRESS: '192.168.122.1', DHCP_POOL_START: start, DHCP_POOL_END: end},
      })
    const good = check([node('controller00', 3, 625), node('compute00', 4, 626)], '192.168.122.200', '192.168.122.250')
    expect(good.status, good.stderr).toBe(0)
    const bad = check([node('controller00', 3, 625), node('compute00', 210, 625)], '192.168.122.200', '192.168.123.250')
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain('the DHCP pool 192.168.122.200-192.168.123.250 must be an ascending range inside 192.168.122.0/24')
    expect(bad.stderr).toContain('compute00: BMC port 625 is also used by controller00')
  })

  describe('virt_probe.py: each outcome, against a stand-in `virsh` (the real one is in test/system)', () => {
    // The stand-in plays libvirt for `virsh create`: a guest whose type (and CPU mode) is in
    // $RUNS writes the boot sector's marker to the serial log its XML names, one in $SILENT
    // starts and prints nothing, any other fails as QEMU does on a broken nested KVM.
    const standIn = join(dir, 'virsh')
    writeFileSync(
      standIn,
      `#!/usr/bin/python3
import os, re, sys
args = sys.argv[3:]
if args[0] == 'domcapabilities':
    print("<domainCapabilities><cpu><mode name='host-model' supported='yes'>\\n  <model fallback='forbid'>kvm64</model></mode></cpu></domainCapabilities>")
elif args[0] == 'version':
    print('Running hypervisor: QEMU 7.2.0')
elif args[0] == 'create':
    xml = open(args[1]).read()
    kind = re.search(r"<domain type='(\\w+)'", xml).group(1)
    mode = re.search(r"<cpu mode='([\\w-]+)'", xml)
    what = kind + ('/' + mode.group(1) if mode else '')
    open(os.environ['LOG'], 'a').write(what + '\\n')
    if what in os.environ.get('RUNS', '').split(','):
        open(re.search(r"<serial type='file'><source path=[\\x22\\x27]([^\\x22\\x27]+)", xml).group(1), 'wb').write(b'SeaBIOS\\r\\nFLEET-VIRT-PROBE-OK\\r\\n')
    elif what not in os.environ.get('SILENT', '').split(','):
        sys.stderr.write("error: Failed to create domain from x.xml\\nerror: internal error: qemu unexpectedly closed the monitor: 2026-12-01T08:46:51.322583Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\\nqemu-system-x86_64: kvm.c:3183: kvm_buf_set_msrs: Assertion failed.\\n")
        sys.exit(1)
`,
    )
    chmodSync(standIn, 0o755)
    const device = join(dir, 'kvm')
    writeFileSync(device, '')
    let n = 0
    const probe = (cmd: string, o: {device?: string; allow: boolean; runs?: string; silent?: string}) => {
      const case_ = join(dir, `probe-${++n}`)
      mkdirSync(case_)
      const env = {
        ...process.env,
        VIRSH: standIn,
        KVM_DEVICE: o.device ?? join(dir, 'no-kvm'),
        LIBVIRT_URI: 'qemu:///system',
        ALLOW_EMULATION: String(o.allow),
        FACTS_FILE: join(case_, 'facts', 'virt.json'),
        PROBE_TIMEOUT: '1',
        LOG: join(case_, 'tried'),
        RUNS: o.runs ?? '',
        SILENT: o.silent ?? '',
      }
      const run = (c: string) => spawnSync(PYTHON, [join(FILES, 'virt_probe.py'), c], {encoding: 'utf8', env, timeout: 30_000})
      const r = run(cmd)
      const read = (f: string) => {
        try {
          return readFileSync(f, 'utf8')
        } catch {
          return undefined
        }
      }
      const verdict = read(env.FACTS_FILE)
      return {...r, run, tried: (read(env.LOG) ?? '').split('\n').filter(Boolean), verdict: verdict ? JSON.parse(verdict) : undefined}
    }

    it('a device that works: the first CPU mode that ran the guest, host-model', () => {
      const r = probe('probe', {device, allow: false, runs: 'kvm/host-model,kvm/custom'})
      expect(r.status, r.stderr).toBe(0)
      expect(r.tried).toEqual(['kvm/host-model'])
      expect(r.verdict).toMatchObject({usable: true, domain_type: 'kvm', accel: 'kvm', cpu_mode: 'host-model', cpu_model: null, error: null})
      expect(r.run('cached').status).toBe(0)
    })

    it('a device whose host CPU model fails: the named model host-model is based on', () => {
      const r = probe('probe', {device, allow: false, runs: 'kvm/custom'})
      expect(r.status, r.stderr).toBe(0)
      expect(r.tried).toEqual(['kvm/host-model', 'kvm/host-passthrough', 'kvm/custom'])
      expect(r.verdict).toMatchObject({domain_type: 'kvm', cpu_mode: 'custom', cpu_model: 'kvm64'})
      expect(r.verdict.tried[0]).toMatchObject({label: 'host-model', ok: false, error: 'failed to set MSR 0x10a to 0x69'})
    })

    it('a device that fails: one sentence with QEMU\'s error, the verdict kept for the preflight; TCG when emulation is allowed', () => {
      const r = probe('probe', {device, allow: false, silent: 'kvm/custom'})
      expect(r.status).toBe(1)
      expect(r.stderr.trim().split('\n')).toEqual([
        'KVM is present (/dev/kvm) but unusable, no guest ran with it (host-model: failed to set MSR 0x10a to 0x69; host-passthrough: failed to set MSR 0x10a to 0x69; CPU model kvm64: the guest started but printed nothing within 1 s): use a flavour whose nested virtualisation works, or set allow_emulation: true to run the nodes under QEMU emulation (slow).',
      ])
      expect(r.verdict).toMatchObject({usable: false, domain_type: null})
      expect(r.run('cached').status).toBe(1)
      // This boot's verdict fails the read-only preflight at once, with the same sentence.
      const pre = r.run('preflight')
      expect(pre.status).toBe(1)
      expect(pre.stderr.trim()).toBe(r.stderr.trim())
      const allowed = probe('probe', {device, allow: true, runs: 'qemu'})
      expect(allowed.status, allowed.stderr).toBe(0)
      expect(allowed.tried).toEqual(['kvm/host-model', 'kvm/host-passthrough', 'kvm/custom', 'qemu'])
      expect(allowed.verdict).toMatchObject({usable: true, domain_type: 'qemu', accel: 'tcg', cpu_mode: null})
    })

    it('no device: the preflight says so unless emulation is allowed, and only TCG is tried', () => {
      const pre = probe('preflight', {allow: false})
      expect(pre.status).toBe(1)
      expect(pre.stderr).toMatch(/^No \/dev\/kvm \(CPU virtualisation flag: (yes|no)\): use a flavour with nested virtualisation, or set allow_emulation: true/)
      expect(probe('preflight', {allow: true}).status).toBe(0)
      const r = probe('probe', {allow: true, runs: 'qemu'})
      expect(r.status, r.stderr).toBe(0)
      expect(r.tried).toEqual(['qemu'])
      expect(r.verdict).toMatchObject({usable: true, domain_type: 'qemu'})
      const none = probe('probe', {allow: false})
      expect(none.status).toBe(1)
      expect(none.tried).toEqual([])
      expect(none.stderr).toMatch(/^No \/dev\/kvm/)
    })
  })

  it.skipIf(process.getuid?.() !== 0)("virt_probe.py kvm-access: a device libvirt's QEMU user cannot open is opened to group kvm, and undo puts it back", () => {
    // A real permission check: the script forks, becomes libvirt-qemu and opens the file.
    const d = mkdtempSync(join(tmpdir(), 'fleet-kvm-access-'))
    try {
      chmodSync(d, 0o755)
      const device = join(d, 'kvm')
      writeFileSync(device, '', {mode: 0o600})
      mkdirSync(join(d, 'state'))
      const run = (action: string) => spawnSync(PYTHON, [join(FILES, 'virt_probe.py'), 'kvm-access', action], {encoding: 'utf8', env: {...process.env, KVM_DEVICE: device, QEMU_USER: 'libvirt-qemu', STATE_DIR: join(d, 'state')}})
      const kvmGid = Number(readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith('kvm:'))!.split(':')[2])
      expect(run('check').status).toBe(1)
      expect(run('fix').status).toBe(0)
      expect([statSync(device).mode & 0o777, statSync(device).gid]).toEqual([0o660, kvmGid])
      expect(run('check').status).toBe(0)
      expect(run('undo').status).toBe(0)
      expect([statSync(device).mode & 0o777, statSync(device).gid]).toEqual([0o600, 0])
      expect(run('check').status).toBe(1)
    } finally {
      rmSync(d, {recursive: true, force: true})
    }
  })

  it.skipIf(process.getuid?.() !== 0)('preflight.py ports: a TCP port another process holds is named with its owner; the playbook\'s own servers are not', async () => {
    const {createServer} = await import('node:net')
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const taken = (server.address() as {port: number}).port
    const work = mkdtempSync(join(tmpdir(), 'fleet-ports-'))
    const ours = spawn(PYTHON, ['-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', work], {stdio: ['ignore', 'pipe', 'ignore']})
    try {
      const oursPort = await new Promise<number>((resolve) => ours.stdout.on('data', (d) => {
        const m = String(d).match(/port (\d+)/)
        if (m) resolve(Number(m[1]))
      }))
      const check = () =>
        spawnSync(PYTHON, [join(FILES, 'preflight.py'), 'ports'], {
          encoding: 'utf8',
          env: {...process.env, WORK_DIR: work, UDP_PORTS_JSON: '[]', TCP_PORTS_JSON: JSON.stringify([{port: taken, what: 'the Ironic API'}, {port: oursPort, what: 'the HTTP server of the boot files'}])},
        })
      const r = check()
      expect(r.status).toBe(1)
      expect(r.stderr.trim().split('\n')).toEqual([`TCP port ${taken} (the Ironic API) is already taken by node (pid ${process.pid}) at 127.0.0.1:${taken}; stop it (for a stray dnsmasq: find its service and stop it) so the workshop can use the port.`])
      server.close()
      await new Promise((r) => setTimeout(r, 100))
      expect(check().status).toBe(0)
    } finally {
      server.close()
      ours.kill()
      rmSync(work, {recursive: true, force: true})
    }
  })

  it('wait_ssh.py: waits for the SSH banner, and names a silent node with the end of its console log', async () => {
    const {createServer} = await import('node:net')
    // The script reads 4 bytes and hangs up: a reset the server need not hear about.
    const server = createServer((c) => c.on('error', () => {}).end('SSH-2.0-stand-in\r\n'))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as {port: number}).port
    const consoles = join(dir, 'consoles')
    mkdirSync(consoles, {recursive: true})
    writeFileSync(join(consoles, 'compute00_console.log'), '\x1b[2JSeaBIOS (version 1.16.2)\r\nBooting from ROM...\r\niPXE initialising devices...\r\nNo more network devices\r\n')
    const wait = (nodes: string) =>
      new Promise<{status: number | null; stdout: string; stderr: string}>((resolve) => {
        const c = spawn(PYTHON, [join(FILES, 'wait_ssh.py'), '--nodes', nodes, '--port', String(port), '--timeout', '30', '--boot-timeout', '1', '--interval', '0.2', '--console-dir', consoles])
        let stdout = ''
        let stderr = ''
        c.stdout.on('data', (d) => (stdout += d))
        c.stderr.on('data', (d) => (stderr += d))
        c.on('close', (status) => resolve({status, stdout, stderr}))
      })
    try {
      const ok = await wait('controller00=127.0.0.1,')
      expect(ok.status, ok.stderr).toBe(0)
      expect(ok.stdout).toContain('every node answers SSH: controller00 (127.0.0.1)')
      const t = Date.now()
      const bad = await wait('controller00=127.0.0.1,compute00=127.0.0.9,')
      expect(bad.status).toBe(1)
      expect(Date.now() - t).toBeLessThan(15_000)
      expect(bad.stderr.trim()).toBe(`compute00: 127.0.0.9 does not answer SSH after 1s; its console log (${consoles}/compute00_console.log) ends with: SeaBIOS (version 1.16.2) | Booting from ROM... | iPXE initialising devices... | No more network devices`)
    } finally {
      server.close()
    }
  })

  it('wait_ssh.py: power-cycles a node whose console went silent through Ironic, at most --power-cycles times', () => {
    const consoles = join(dir, 'stall-consoles')
    mkdirSync(consoles, {recursive: true})
    const log = join(consoles, 'compute00_console.log')
    writeFileSync(log, 'Run /init as init process\r\nvirtio_blk virtio3: [vda] 20971520 512-byte logical blocks\r\n')
    // The stand-in `baremetal`: records each call and, like a real power cycle, makes the console grow again.
    const calls = join(dir, 'stall-calls.txt')
    const bm = join(dir, 'stall-baremetal')
    writeFileSync(bm, `#!/bin/bash\necho "$*" >> ${calls}\n[ "$2" = reboot ] && echo "SeaBIOS (version 1.16.2)" >> ${log}\n[ "$2" = show ] && echo '{"provision_state": "active", "power_state": "power on", "last_error": null}'\nexit 0\n`)
    chmodSync(bm, 0o755)
    const r = spawnSync(PYTHON, [join(FILES, 'wait_ssh.py'), '--nodes', 'compute00=127.0.0.9,', '--port', '9', '--timeout', '30', '--boot-timeout', '3', '--interval', '0.2', '--stall-timeout', '0.5', '--power-cycles', '2', '--baremetal', bm, '--console-dir', consoles], {encoding: 'utf8', timeout: 25_000})
    expect(r.status).toBe(1)
    const reboots = readFileSync(calls, 'utf8').split('\n').filter((l) => l.startsWith('node reboot'))
    expect(reboots).toEqual(['node reboot compute00', 'node reboot compute00'])
    expect(r.stdout).toMatch(/compute00: no SSH and no console output for \d+s: it hangs while booting; power-cycling it through Ironic \(1\/2\)/)
    expect(r.stdout).toContain('(2/2)')
    expect(r.stderr).toContain('compute00: 127.0.0.9 does not answer SSH after 3s and 2 power cycles (Ironic: active, power on, last_error: none)')
    // Without --stall-timeout nothing is power-cycled.
    rmSync(calls, {force: true})
    const off = spawnSync(PYTHON, [join(FILES, 'wait_ssh.py'), '--nodes', 'compute00=127.0.0.9,', '--port', '9', '--boot-timeout', '1', '--interval', '0.2', '--baremetal', bm, '--console-dir', consoles], {encoding: 'utf8', timeout: 25_000})
    expect(off.status).toBe(1)
    expect(readFileSync(calls, {encoding: 'utf8', flag: 'a+'}).split('\n').filter((l) => l.startsWith('node reboot'))).toEqual([])
  })

  describe('wait_nodes.py against a stand-in `baremetal` (Ironic is not here)', () => {
    // The stand-in prints $STATES/<node>.json for `node show NODE -f json`, a table for `node list`.
    const states = join(dir, 'states')
    const bm = join(dir, 'baremetal')
    writeFileSync(bm, `#!/bin/bash\nif [ "$2" = list ]; then echo "| Name | Provision State |"; exit 0; fi\ncat "${states}/$3.json" 2>/dev/null || { echo "Node $3 could not be found" >&2; exit 1; }\n`)
    chmodSync(bm, 0o755)
    const set = (node: string, s: Record<string, unknown>) => writeFileSync(join(states, `${node}.json`), JSON.stringify({name: node, maintenance: false, last_error: null, ...s}))
    const wait = (...extra: string[]) =>
      spawnSync(PYTHON, [join(FILES, 'wait_nodes.py'), '--baremetal', bm, '--nodes', 'controller00,compute00,', '--interval', '0.1', '--list-file', join(dir, 'list.txt'), ...extra], {encoding: 'utf8', timeout: 20_000})
    spawnSync('mkdir', ['-p', states])

    it('fails at once on deploy failed, with the last_error', () => {
      set('controller00', {provision_state: 'deploy failed', last_error: 'Timeout reached while waiting for callback for node'})
      set('compute00', {provision_state: 'deploying'})
      const t = Date.now()
      const r = wait('--timeout', '60')
      expect(r.status).toBe(1)
      expect(Date.now() - t).toBeLessThan(5000)
      expect(r.stderr).toContain("controller00: provision state 'deploy failed': Timeout reached while waiting for callback for node")
      expect(readFileSync(join(dir, 'list.txt'), 'utf8')).toContain('Provision State')
    })

    it('fails on maintenance and on a node stuck in wait call-back', () => {
      set('controller00', {provision_state: 'active', maintenance: true, maintenance_reason: 'Power state sync failed'})
      set('compute00', {provision_state: 'wait call-back'})
      const r = wait('--timeout', '60', '--callback-timeout', '0.3')
      expect(r.status).toBe(1)
      expect(r.stderr).toContain('controller00: in maintenance mode')
      expect(r.stderr).toContain('Power state sync failed')
      set('controller00', {provision_state: 'active'})
      const stuck = wait('--timeout', '60', '--callback-timeout', '0.3')
      expect(stuck.status).toBe(1)
      expect(stuck.stderr).toContain("compute00: still in 'wait call-back'")
    })

    it('succeeds when every node is active; --once is the check', () => {
      set('controller00', {provision_state: 'active'})
      set('compute00', {provision_state: 'deploying'})
      expect(wait('--once').status).toBe(1)
      set('compute00', {provision_state: 'active'})
      const r = wait('--once')
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout).toContain('all nodes active')
    })
  })
})
