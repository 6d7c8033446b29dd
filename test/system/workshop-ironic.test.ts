/**
 * The workshop's whole point, on this machine, the way a user gets there: `fleet prepare` over
 * SSH to a jumphost (this machine, reached as a local sshd host whose user has passwordless
 * sudo) runs preflight, host, infra, bmc, inventory and bifrost with `ironic_provider: packages`
 * (the distribution's Ironic), `deploy_mode: ramdisk` (no internet: the nodes boot a ramdisk
 * built on the jumphost from Debian's kernel, busybox and dropbear) and `bmc_provider: virshbmc`.
 * Both nodes are enrolled, powered and boot-device-set by Ironic through IPMI, network-boot
 * through iPXE from the jumphost's dnsmasq and HTTP server, reach `active` and answer SSH with
 * the jumphost's key. Then: the same prepare skips every step; a BMC with a wrong password fails
 * Ironic's manage with Ironic's reason; a node that cannot network-boot fails the SSH wait with
 * the end of its console log; `fleet cleanup` leaves nothing behind.
 *
 * Whatever virt-probe decides is asserted as it decided (KVM or TCG: allow_emulation is set).
 * Needs root and what scripts/setup.sh installs; FLEET_SKIP_SYSTEM=1 skips it. It holds the
 * workshop lock: the guide's names exist once per machine.
 */
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startLocalHosts, type LocalHost, type LocalHostSet} from '../../testbed/index.js'
import {holdExclusive, WORKSHOP_LOCK} from '../helpers/exclusive.js'
import {fleet} from '../helpers/fleet-cli.js'
import {udpPortBound} from '../../testbed/libvirt/libvirt-bmc.js'
import {requireBinary, startLibvirt, virsh, type LibvirtHandle} from '../../testbed/libvirt/libvirt-daemon.js'
import {processesWith} from '../helpers/processes.js'

const skip = process.platform !== 'linux' || process.env.FLEET_SKIP_SYSTEM === '1'
const URI = 'qemu:///system'
const PHASES = 'preflight,host,infra,bmc,inventory,bifrost'
const NODES = [
  {name: 'controller00', pxe: '192.168.122.3', port: 625},
  {name: 'compute00', pxe: '192.168.122.4', port: 626},
]
const NETWORKS = ['pxe', 'mgmt', 'ext']
const FACTS = '/etc/fleet/facts.d/virt.json'

describe.skipIf(skip)('workshop via fleet prepare: the distribution\'s Ironic deploys both nodes (ramdisk), end to end', () => {
  let set: LocalHostSet
  let host: LocalHost
  let dir = ''
  let work = ''
  let consoles = ''
  let db = ''
  let hostsFile = ''
  let varsFile = ''
  let release: (() => void) | undefined
  let started = false
  let libvirt: LibvirtHandle | undefined
  const secret = `ir-${randomBytes(6).toString('hex')}`
  const timings: Record<string, number> = {}
  const prepare = (extra: string[] = []) => fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'workshop', '--vars', varsFile, '--steps', PHASES, '--connect-timeout', '60', ...extra])
  const baremetal = (args: string[]) => spawnSync(join(work, 'ironic', 'baremetal'), args, {encoding: 'utf8'})
  /** What the playbook gives ironic_nodes.py (the ramdisk deploy). */
  const ironicEnv = () => ({
    BAREMETAL: join(work, 'ironic', 'baremetal'),
    DEPLOY_MODE: 'ramdisk',
    RAMDISK_KERNEL_URL: 'http://192.168.122.1:8088/fleet-ramdisk/kernel',
    RAMDISK_URL: 'http://192.168.122.1:8088/fleet-ramdisk/initramfs',
  })
  const nodeSsh = (address: string, command: string) =>
    spawnSync('ssh', ['-i', join(host.home, '.ssh', 'id_ed25519'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', `root@${address}`, command], {encoding: 'utf8', timeout: 30_000})

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this system test needs root (the jumphost is this machine); run it as root or set FLEET_SKIP_SYSTEM=1')
    for (const bin of ['virsh', 'libvirtd', 'qemu-system-x86_64', 'ipmitool', 'dnsmasq', 'ironic', 'ironic-dbsync', 'baremetal', 'busybox', 'dropbear', 'ssh']) requireBinary(bin)
    release = await holdExclusive(WORKSHOP_LOCK, 1_200_000)
    // Never touch what is not ours: the guide's names, ports and the facts file must be free.
    const taken = [
      ...NETWORKS.filter((n) => existsSync(`/sys/class/net/br_${n}`)).map((n) => `bridge br_${n}`),
      ...NODES.filter((n) => udpPortBound(n.port)).map((n) => `UDP port ${n.port}`),
      ...(existsSync(FACTS) ? [FACTS] : []),
    ]
    if (taken.length) throw new Error(`already in use on this machine, so the Ironic test will not run: ${taken.join(', ')}`)
    started = true
    // The libvirtd the system tests share (the playbook's libvirtd-direct finds it running).
    libvirt = await startLibvirt()
    dir = mkdtempSync(join(tmpdir(), 'fleet-ironic-'))
    work = join(dir, 'work')
    consoles = join(dir, 'consoles')
    db = join(dir, 'fleet.db')
    set = await startLocalHosts({count: 1, prefix: 'fleet-ir'})
    host = set.hosts[0]!
    hostsFile = join(dir, 'hosts.txt')
    writeFileSync(hostsFile, set.hostsFileText())
    varsFile = join(dir, 'room.yaml')
    writeFileSync(
      varsFile,
      [
        'allow_emulation: true',
        'bmc_provider: virshbmc',
        'ironic_provider: packages',
        'deploy_mode: ramdisk',
        'check_mirrors: false',
        'set_hostname: false',
        `bmc_password: ${secret}`,
        'callback_timeout: 600', // a node that never booted its ramdisk fails in 10 min, not 45
        `work_dir: ${work}`,
        `console_log_dir: ${consoles}`,
        '',
      ].join('\n'),
    )
  }, 1_320_000)

  afterAll(async () => {
    try {
      if (started && hostsFile) {
        // Whatever a failure left: the playbook's own undo first, then by hand.
        await fleet(['cleanup', '--hosts', hostsFile, '--db', db, '--playbook', 'workshop', '--vars', varsFile, '--connect-timeout', '60']).catch(() => undefined)
        for (const n of NODES) {
          await virsh(URI, ['destroy', n.name]).catch(() => {})
          await virsh(URI, ['undefine', n.name]).catch(() => {})
        }
        for (const pid of [...processesWith(`${work}/`), ...processesWith(work)]) {
          try {
            process.kill(pid, 'SIGTERM')
          } catch {
            // gone
          }
        }
      }
    } finally {
      await set?.stop()
      await libvirt?.stop()
      if (dir) rmSync(dir, {recursive: true, force: true})
      release?.()
      console.log(`workshop-ironic timings (s): ${JSON.stringify(timings)}`)
    }
  })

  it('fleet prepare takes both nodes to active through Ironic, and each answers SSH with the jumphost\'s key', {timeout: 1_500_000}, async () => {
    const t = Date.now()
    const r = await prepare()
    timings.prepare = Math.round((Date.now() - t) / 1000)
    const status = await fleet(['status', '--db', db, '--host', host.name, '--json'])
    const view = JSON.parse(status.stdout) as {host: {state: string}; steps: Array<{step: string; status: string; error: string | null}>; log_tail?: {step: string; text: string}}
    expect(r.code, `${r.stdout}\n${r.stderr}\n${JSON.stringify(view.log_tail)}`).toBe(0)
    expect(r.stdout).toContain('prepare: 1 of 1 hosts ok.')
    // fleet status --host: every step ok or skipped by its check or condition, none failed.
    expect(status.code).toBe(0)
    expect(view.host.state).toBe('ok')
    expect(view.steps.filter((s) => !['ok', 'skipped'].includes(s.status))).toEqual([])
    const byStep = Object.fromEntries(view.steps.map((s) => [s.step, s.status]))
    for (const id of ['virt-probe', 'domains', 'virshbmc', 'baremetal-json', 'ironic-config', 'ironic-ramdisk', 'ironic-services', 'ironic-enroll', 'ironic-deploy', 'bifrost-wait-active', 'bifrost-ssh']) expect(byStep[id], id).toBe('ok')
    for (const id of ['bifrost-checkout', 'bifrost-install']) expect(byStep[id], id).toBe('skipped')

    // Ironic has both nodes active and powered on.
    const nodes = JSON.parse(baremetal(['node', 'list', '-f', 'json', '-c', 'Name', '-c', 'Power State', '-c', 'Provisioning State']).stdout) as Array<Record<string, string>>
    expect(nodes.map((n) => [n.Name, n['Power State'], n['Provisioning State']]).sort()).toEqual([
      ['compute00', 'power on', 'active'],
      ['controller00', 'power on', 'active'],
    ])
    const verdict = JSON.parse(readFileSync(FACTS, 'utf8')) as {domain_type: string}
    for (const n of NODES) {
      // Ironic set the boot device through the BMC: the template's "network, then hd" became
      // the single persistent network boot that `chassis bootdev pxe options=persistent` writes.
      const xml = await virsh(URI, ['dumpxml', '--inactive', n.name])
      expect(xml).toMatch(new RegExp(`^<domain type='${verdict.domain_type}'`))
      expect(xml.match(/<boot dev='[a-z]+'\/>/g)).toEqual(["<boot dev='network'/>"])
      // It network-booted from the jumphost: iPXE fetched the boot script, the ramdisk came up.
      const consoleLog = readFileSync(join(consoles, `${n.name}_console.log`), 'utf8')
      expect(consoleLog).toContain('http://192.168.122.1:8088/boot.ipxe')
      expect(consoleLog).toContain(`fleet-ramdisk: ready ${n.pxe}`)
      // And it answers SSH with the jumphost's key.
      const ssh = nodeSsh(n.pxe, 'uname -a')
      expect(ssh.status, ssh.stderr).toBe(0)
      expect(ssh.stdout).toMatch(/^Linux fleet-ramdisk \S+ .* x86_64/)
    }
    // The BMC password reached neither the database nor the journals.
    expect(readFileSync(db).includes(secret)).toBe(false)
  })

  it('runs again without changing anything: every step is skipped', {timeout: 600_000}, async () => {
    const t = Date.now()
    const r = await prepare(['--json'])
    timings.again = Math.round((Date.now() - t) / 1000)
    expect(r.code, r.stdout).toBe(0)
    const view = JSON.parse((await fleet(['status', '--db', db, '--host', host.name, '--json'])).stdout) as {steps: Array<{step: string; status: string; reason: string | null}>}
    expect(view.steps.filter((s) => s.status !== 'skipped').map((s) => `${s.step}: ${s.status}`)).toEqual([])
  })

  it('power-cycles a node that hangs while booting (console silent, no SSH) through Ironic, and it answers SSH again', {timeout: 900_000}, async () => {
    // A paused guest is what a boot that hangs under emulation looks like from outside: its
    // console stops growing and port 22 stays shut. wait_ssh.py power-cycles it once.
    await virsh(URI, ['suspend', 'controller00'])
    const wait = spawnSync('python3', ['playbooks/workshop/files/wait_ssh.py', '--nodes', 'controller00=192.168.122.3,', '--boot-timeout', '600', '--interval', '3', '--stall-timeout', '15', '--power-cycles', '1', '--baremetal', join(work, 'ironic', 'baremetal'), '--console-dir', consoles], {encoding: 'utf8', timeout: 800_000})
    expect(wait.status, `${wait.stdout}\n${wait.stderr}`).toBe(0)
    expect(wait.stdout).toMatch(/controller00: no SSH and no console output for \d+s: it hangs while booting; power-cycling it through Ironic \(1\/1\)/)
    expect(wait.stdout).toContain('every node answers SSH: controller00 (192.168.122.3)')
    expect((await virsh(URI, ['domstate', 'controller00'])).trim()).toBe('running')
  })

  it('fails Ironic\'s manage of a node whose BMC password is wrong, with Ironic\'s reason', {timeout: 300_000}, () => {
    const inv = JSON.parse(readFileSync(join(work, 'baremetal.json'), 'utf8')) as Record<string, {uuid: string; driver_info: Record<string, string>; nics: Array<{mac: string}>}>
    const wrong = join(dir, 'wrong-bmc.json')
    writeFileSync(wrong, JSON.stringify({broken00: {...inv.controller00, name: 'broken00', uuid: '00000000-0000-0000-0000-0000000000ff', nics: [{mac: '52:54:00:00:00:ff'}], driver_info: {...inv.controller00!.driver_info, ipmi_password: 'not-the-password'}}}))
    const r = spawnSync('python3', ['playbooks/workshop/files/ironic_nodes.py', 'enroll', wrong], {encoding: 'utf8', env: {...process.env, ...ironicEnv()}, timeout: 240_000})
    try {
      expect(r.status).toBe(1)
      expect(r.stderr.trim()).toMatch(/^broken00: enroll, not manageable: .*(IPMI|ipmitool|power).*/i)
    } finally {
      baremetal(['node', 'maintenance', 'set', 'broken00'])
      baremetal(['node', 'delete', 'broken00'])
    }
  })

  it('fails the SSH wait of a node that cannot network-boot, with the end of its console log', {timeout: 600_000}, async () => {
    // No DHCP on the PXE bridge any more, then compute00 deployed again: Ironic says active
    // (a ramdisk deploy has no call-back), but the node never gets its ramdisk.
    const svc = join('playbooks/workshop/files/service.sh')
    expect(spawnSync('bash', [svc, 'stop', 'ironic-dnsmasq', join(work, 'ironic', 'run')]).status).toBe(0)
    try {
      const undeploy = baremetal(['node', 'undeploy', 'compute00', '--wait', '600'])
      expect(undeploy.status, undeploy.stderr).toBe(0)
      rmSync(join(consoles, 'compute00_console.log'), {force: true})
      // The playbook's own deploy (instance_info set again: an undeploy wipes it).
      const deploy = spawnSync('python3', ['playbooks/workshop/files/ironic_nodes.py', 'deploy', join(work, 'baremetal.json')], {encoding: 'utf8', env: {...process.env, ...ironicEnv()}, timeout: 300_000})
      expect(deploy.status, deploy.stderr).toBe(0)
      expect(deploy.stdout).toBe('compute00: deploy started\n')
      const wait = spawnSync('python3', ['playbooks/workshop/files/wait_ssh.py', '--nodes', 'compute00=192.168.122.4,', '--boot-timeout', '90', '--interval', '3', '--baremetal', join(work, 'ironic', 'baremetal'), '--console-dir', consoles], {encoding: 'utf8', timeout: 300_000})
      expect(wait.status).toBe(1)
      expect(wait.stderr.trim()).toMatch(/^compute00: 192\.168\.122\.4 does not answer SSH after 90s \(Ironic: active, power on, last_error: none\); its console log \(.*compute00_console\.log\) ends with: .*(No more network devices|No configuration methods succeeded|Nothing to boot|DHCP)/)
    } finally {
      spawnSync('bash', [svc, 'start', 'ironic-dnsmasq', join(work, 'ironic', 'run'), join(work, 'ironic', 'log', 'dnsmasq.out'), '--', 'dnsmasq', '-k', '-C', join(work, 'ironic', 'dnsmasq.conf')])
    }
  })

  it('leaves nothing behind after fleet cleanup: no node, Ironic, dnsmasq, network, domain or BMC', {timeout: 900_000}, async () => {
    const t = Date.now()
    const r = await fleet(['cleanup', '--hosts', hostsFile, '--db', db, '--playbook', 'workshop', '--vars', varsFile, '--connect-timeout', '60'])
    timings.cleanup = Math.round((Date.now() - t) / 1000)
    expect(r.code, r.stdout).toBe(0)
    expect(processesWith(`${work}/ironic`)).toEqual([])
    expect(processesWith('virshbmc_bound')).toEqual([])
    const domains = (await virsh(URI, ['list', '--all', '--name'])).split('\n').map((l) => l.trim())
    for (const n of NODES) expect(domains, n.name).not.toContain(n.name)
    expect(processesWith('guest=controller00')).toEqual([])
    expect(processesWith('guest=compute00')).toEqual([])
    for (const n of NETWORKS) expect(existsSync(`/sys/class/net/br_${n}`), `br_${n}`).toBe(false)
    const nets = (await virsh(URI, ['net-list', '--all', '--name'])).split('\n').map((l) => l.trim())
    for (const n of NETWORKS) expect(nets, n).not.toContain(n)
    for (const n of NODES) expect(udpPortBound(n.port), `UDP ${n.port}`).toBe(false)
    expect(udpPortBound(67)).toBe(false)
    expect(existsSync(work)).toBe(false)
    expect(existsSync(FACTS)).toBe(false)
  })
})
