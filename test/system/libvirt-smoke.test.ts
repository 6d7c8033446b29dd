/**
 * Smoke test against a real libvirt: a tiny network and a tiny TCG domain, powered on and off
 * over IPMI through virshbmc. Needs root and the Debian packages libvirt-daemon-system,
 * libvirt-clients, qemu-system-x86, ipmitool, python3-pyghmi, python3-libvirt.
 * Starts libvirtd/virtlogd itself when they are not running (and only then stops them).
 * Set FLEET_SKIP_SYSTEM=1 to skip.
 *
 * Kept light for 2 CPUs: the network is `open` mode without DNS/DHCP (no dnsmasq, no firewall
 * rules), the domain has 64 MiB, no disk, no NIC option ROM, and its BIOS halts after
 * "No bootable device" (rebootTimeout -1) instead of spinning. Starting an `open` network makes
 * libvirt set net.ipv4.ip_forward=1 and never reset it; cleanup puts back the value it found.
 */
import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ipmitool, startVirshBmc, type VirshBmc} from '../../testbed/libvirt/libvirt-bmc.js'
import {startLibvirt, virsh, type LibvirtHandle} from '../../testbed/libvirt/libvirt-daemon.js'
import {eventually} from '../helpers/processes.js'

const skip = process.platform !== 'linux' || process.env.FLEET_SKIP_SYSTEM === '1'

describe.skipIf(skip)('libvirt smoke: network, TCG domain, virshbmc power control', () => {
  const tag = randomBytes(3).toString('hex')
  const network = `fleet-smoke-${tag}`
  const bridge = `fltsmk${tag}` // <= 15 characters (IFNAMSIZ)
  const domain = `fleet-smoke-${tag}`
  // A /30 of link-local space on our own bridge only: nothing is ever sent beyond it.
  const subnet = `169.254.${100 + (randomBytes(1)[0]! % 150)}`
  const qemuLog = `/var/log/libvirt/qemu/${domain}.log`
  const ipForward = '/proc/sys/net/ipv4/ip_forward'
  let ipForwardBefore: string | undefined

  let libvirt: LibvirtHandle | undefined
  let bmc: VirshBmc | undefined
  let dir = ''
  let consoleLog = ''
  let uri = ''

  const state = async () => virsh(uri, ['domstate', domain])
  const listed = async (args: string[]) => (await virsh(uri, args)).split('\n').map((l) => l.trim())

  /** Idempotent: every step tolerates "already gone". */
  async function cleanup(): Promise<void> {
    await bmc?.stop()
    if (uri) {
      await virsh(uri, ['destroy', domain]).catch(() => {})
      await virsh(uri, ['undefine', domain]).catch(() => {})
      await virsh(uri, ['net-destroy', network]).catch(() => {})
      await virsh(uri, ['net-undefine', network]).catch(() => {})
      // Put ip_forward back, unless another active libvirt network may rely on it now.
      if (ipForwardBefore === '0' && readFileSync(ipForward, 'utf8').trim() === '1') {
        const active = await virsh(uri, ['net-list', '--name']).catch(() => 'unknown')
        if (active === '') writeFileSync(ipForward, '0\n')
      }
    }
    rmSync(qemuLog, {force: true})
    if (dir) rmSync(dir, {recursive: true, force: true})
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-libvirt-smoke-'))
    chmodSync(dir, 0o755)
    consoleLog = join(dir, `${domain}-console.log`)
    libvirt = await startLibvirt()
    uri = libvirt.uri

    const netXml = join(dir, 'network.xml')
    writeFileSync(
      netXml,
      `<network>
  <name>${network}</name>
  <forward mode='open'/>
  <bridge name='${bridge}' stp='off' delay='0'/>
  <dns enable='no'/>
  <ip address='${subnet}.1' prefix='30'/>
</network>
`,
    )
    ipForwardBefore = readFileSync(ipForward, 'utf8').trim()
    await virsh(uri, ['net-define', netXml])
    await virsh(uri, ['net-start', network])

    const domXml = join(dir, 'domain.xml')
    writeFileSync(
      domXml,
      `<domain type='qemu'>
  <name>${domain}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
    <bios useserial='yes' rebootTimeout='-1'/>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <interface type='network'>
      <source network='${network}'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <serial type='file'>
      <source path='${consoleLog}'/>
      <target port='0'/>
    </serial>
    <console type='file'>
      <source path='${consoleLog}'/>
      <target type='serial' port='0'/>
    </console>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
`,
    )
    await virsh(uri, ['define', domXml])
    bmc = await startVirshBmc({domain, logDir: dir, uri})
  })

  afterAll(async () => {
    try {
      await cleanup()
    } finally {
      await libvirt?.stop()
    }
  })

  it('defines the network on its own bridge and the domain with one NIC on it', async () => {
    expect(await listed(['net-list', '--name'])).toContain(network)
    expect(existsSync(`/sys/class/net/${bridge}/bridge`)).toBe(true)

    const nics = (await virsh(uri, ['domiflist', domain])).split('\n').map((l) => l.trim().split(/\s+/))
    expect(nics).toHaveLength(1)
    const [, type, source, model, mac] = nics[0]!
    expect({type, source, model}).toEqual({type: 'network', source: network, model: 'virtio'})
    expect(mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/)
    expect(await state()).toBe('shut off')
  })

  it('powers the domain on and off over IPMI', async () => {
    expect(await ipmitool(bmc!.port, ['power', 'status'])).toBe('Chassis Power is off')

    expect(await ipmitool(bmc!.port, ['power', 'on'])).toBe('Chassis Power Control: Up/On')
    await eventually('domain running after IPMI power on', 15_000, async () => (await state()) === 'running')
    expect(await ipmitool(bmc!.port, ['power', 'status'])).toBe('Chassis Power is on')
    // The serial console log is written (SeaBIOS reports there is nothing to boot, then halts).
    await eventually('serial console log written', 20_000, async () => existsSync(consoleLog) && readFileSync(consoleLog, 'utf8').includes('No bootable device'))

    expect(await ipmitool(bmc!.port, ['power', 'off'])).toBe('Chassis Power Control: Down/Off')
    await eventually('domain shut off after IPMI power off', 15_000, async () => (await state()) === 'shut off')
    expect(await ipmitool(bmc!.port, ['power', 'status'])).toBe('Chassis Power is off')
  })

  it('cleans up everything it made', async () => {
    await cleanup()
    expect(await listed(['list', '--all', '--name'])).not.toContain(domain)
    expect(await listed(['net-list', '--all', '--name'])).not.toContain(network)
    expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false)
    expect(existsSync(dir)).toBe(false)
    if (ipForwardBefore === '0') expect(readFileSync(ipForward, 'utf8').trim()).toBe('0')
  })
})
