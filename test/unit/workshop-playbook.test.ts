/**
 * The workshop playbook as data: it loads, its phases are the issue's, every step that changes
 * something can be undone, `when` picks the right steps per OS, and what the Bifrost and
 * bootstrap phases would run (they need the internet, so no test here runs them) is exactly
 * what the vars say: checked on the bundled agent's dry run. Also the helper scripts that have
 * logic of their own (preflight addresses, the Ironic wait) on real processes.
 */
import {spawnSync} from 'node:child_process'
import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
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

function facts(over: {id: string; version: string; kvm: boolean; systemd: boolean}): HostFacts {
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

  it('on Ubuntu 24.04 with KVM and systemd: Ubuntu packages, systemd units, kvm domains', () => {
    const f = facts({id: 'ubuntu', version: '24.04', kvm: true, systemd: true})
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
  })

  it('on Debian 12 without KVM or systemd: Debian packages, libvirtd as a daemon, qemu domains, longer waits', () => {
    const f = facts({id: 'debian', version: '12', kvm: false, systemd: false})
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
    'dhcp_pool_start: 192.168.122.100',
    'dhcp_pool_end: 192.168.122.150',
    'node_ntp_servers: [ntp.room.test]',
  ])

  async function plan(only: string): Promise<{steps: Array<Record<string, any>>; logs: string[]}> {
    const r = await agent(['run', '--playbook', PLAYBOOK, '--vars', vars, '--only', only, '--dry-run', '--json', '--state-dir', join(dir, 'no-state')], {home: dir})
    expect(r.code, r.stderr).toBe(0)
    return JSON.parse(r.stdout)
  }

  it('installs the pinned Bifrost on br_pxe with the DHCP pool and the image URLs from the vars', async () => {
    const {steps, logs} = await plan('bifrost,bootstrap')
    const step = (id: string) => steps.find((s) => s.id === id)!
    expect(steps.map((s) => s.id)).toEqual(['bifrost-checkout', 'bifrost-install', 'bifrost-enroll', 'bifrost-deploy', 'bifrost-wait-active', 'bifrost-ssh', 'bootstrap-vars', 'bootstrap-configure', 'bootstrap-reboot'])

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
      `-e ssh_public_key_path=${dir}/.ssh/id_ed25519.pub`,
    ]) {
      expect(install, part).toContain(part)
    }
    expect(install).not.toContain('tarballs.opendev.org')

    const enroll = step('bifrost-enroll').run as string
    expect(enroll.indexOf('inventory.py verify /srv/ws/baremetal.json --bmc')).toBeGreaterThan(-1)
    expect(enroll.indexOf('inventory.py verify')).toBeLessThan(enroll.indexOf('./bifrost-cli enroll /srv/ws/baremetal.json'))
    expect(step('bifrost-deploy').run).toContain('./bifrost-cli deploy /srv/ws/baremetal.json')

    // This machine has no /dev/kvm: the waits are the emulation ones.
    const wait = step('bifrost-wait-active').run as string
    expect(wait).toContain('wait_nodes.py --baremetal /opt/stack/bifrost/bin/baremetal --nodes controller00,compute00, --target active --timeout 7200 --callback-timeout 2700')
    expect(wait).toContain('--list-file /srv/ws/baremetal-node-list.txt')
    expect(step('bifrost-ssh').wait_for.command).toMatch(/addrs=\(192\.168\.122\.3 192\.168\.122\.4 \)/)

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
