/**
 * The workshop playbook (playbooks/workshop.yaml) end to end on this machine, phases preflight,
 * host, infra, bmc and inventory: a real libvirtd (started here when none runs: no systemd),
 * real QEMU with whatever the KVM probe (step virt-probe) found to run a guest here, KVM with
 * some CPU mode or TCG (allow_emulation is set, so either is fine; the test asserts that the
 * domains follow the probe's verdict, not what this machine has), virshbmc (python3-pyghmi)
 * as the BMCs, ipmitool. Then the same run again must skip every step, and `agent undo` must leave nothing
 * behind. Bifrost and bootstrap need the internet: test/unit/workshop-playbook.test.ts covers
 * them by dry run.
 *
 * Needs root and the Debian packages scripts/setup.sh installs; a missing one fails the test with
 * the package to install. It uses the guide's real names and addresses (networks pxe/mgmt/ext on
 * br_pxe/br_mgmt/br_ext, 192.168.122.0/24, 10.10.0.0/24, 10.20.0.0/24, UDP 625/626), which exist
 * only on the bridges it creates; it refuses to start if any of them is already in use, and its
 * afterAll cleans up even when a test failed. The hostname is left alone (set_hostname: false).
 * FLEET_SKIP_SYSTEM=1 skips it.
 */
import {randomBytes} from 'node:crypto'
import {chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {JournalRecord} from '../../src/protocol/index.js'
import {agent, ndjson} from '../helpers/agent-cli.js'
import {ipmitool, requireVirshBmc, udpPortBound} from '../../testbed/libvirt/libvirt-bmc.js'
import {holdExclusive, WORKSHOP_LOCK} from '../helpers/exclusive.js'
import {requireBinary, run, startLibvirt, virsh, type LibvirtHandle} from '../../testbed/libvirt/libvirt-daemon.js'
import {eventually, liveWith} from '../helpers/processes.js'

const skip = process.platform !== 'linux' || process.env.FLEET_SKIP_SYSTEM === '1'

const PLAYBOOK = 'playbooks/workshop.yaml'
const PHASES = 'preflight,host,infra,bmc,inventory'
const NODES = [
  {name: 'controller00', port: 625, pxe: '192.168.122.3', uuid: '00000000-0000-0000-0000-000000000001'},
  {name: 'compute00', port: 626, pxe: '192.168.122.4', uuid: '00000000-0000-0000-0000-000000000002'},
]
const NETWORKS = [
  {name: 'pxe', bridge: 'br_pxe', address: '192.168.122.1'},
  {name: 'mgmt', bridge: 'br_mgmt', address: '10.10.0.1'},
  {name: 'ext', bridge: 'br_ext', address: '10.20.0.1'},
]
const BMC_ADDRESS = '192.168.122.1'
const SYSCTL_FILE = '/etc/sysctl.d/60-fleet-workshop.conf'
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward'

function stepEnds(records: JournalRecord[]) {
  return records.flatMap((r) => (r.type === 'step-end' ? [r] : []))
}

/** `virsh domiflist` rows: {type, source, model, mac}. */
async function nicsOf(uri: string, domain: string) {
  return (await virsh(uri, ['domiflist', domain]))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, type, source, model, mac] = l.trim().split(/\s+/)
      return {type, source, model, mac}
    })
}

describe.skipIf(skip)('workshop playbook: preflight, host, infra, bmc, inventory against real libvirt', () => {
  const secret = `ws-${randomBytes(6).toString('hex')}`
  let libvirt: LibvirtHandle | undefined
  let uri = ''
  let dir = ''
  let home = ''
  let stateDir = ''
  let workDir = ''
  let consoleDir = ''
  let varsFile = ''
  let factsDir = ''
  let kvmBefore: {mode: number; uid: number; gid: number} | undefined
  let bmcPids: number[] = []
  let defaultBefore: {xml: string; active: boolean; autostart: boolean} | undefined
  let ipForwardOrig: string | undefined
  let undone = false
  let release: (() => void) | undefined

  const runAgent = (args: string[]) => agent([...args, '--playbook', PLAYBOOK, '--vars', varsFile, '--state-dir', stateDir, '--json'], {home, env: {FLEET_AGENT_FACTS_DIR: factsDir}})
  const verdict = () => JSON.parse(readFileSync(join(factsDir, 'virt.json'), 'utf8')) as {usable: boolean; domain_type: string; cpu_mode: string | null; cpu_model: string | null; tried: Array<{label: string; ok: boolean; error: string | null}>}
  const netInfo = async (name: string) => {
    const info = await virsh(uri, ['net-info', name])
    return {active: /^Active:\s+yes/m.test(info), autostart: /^Autostart:\s+yes/m.test(info)}
  }
  const names = async (args: string[]) => (await virsh(uri, args)).split('\n').map((l) => l.trim()).filter(Boolean)

  /** What the test would otherwise leave behind, whatever state a failure left: best effort, idempotent. */
  async function sweep(): Promise<void> {
    if (!uri) return
    if (!undone && varsFile) await runAgent(['undo']).catch(() => undefined)
    const pidFiles = NODES.map((n) => join(workDir, 'bmc', `${n.name}.pid`)).filter((f) => existsSync(f))
    for (const pid of [...bmcPids, ...pidFiles.map((f) => Number(readFileSync(f, 'utf8').trim()))]) {
      if (pid > 0 && liveWith(pid, 'virshbmc_bound')) process.kill(pid, 'SIGTERM')
    }
    for (const n of NODES) {
      await virsh(uri, ['destroy', n.name]).catch(() => {})
      await virsh(uri, ['undefine', n.name]).catch(() => {})
      await virsh(uri, ['vol-delete', '--pool', 'images', `${n.name}.qcow2`]).catch(() => {})
      rmSync(`/var/log/libvirt/qemu/${n.name}.log`, {force: true})
    }
    await virsh(uri, ['pool-destroy', 'images']).catch(() => {})
    await virsh(uri, ['pool-undefine', 'images']).catch(() => {})
    for (const n of NETWORKS) {
      await virsh(uri, ['net-destroy', n.name]).catch(() => {})
      await virsh(uri, ['net-undefine', n.name]).catch(() => {})
    }
    if (defaultBefore && !(await names(['net-list', '--all', '--name']).catch((): string[] => [])).includes('default')) {
      const xml = join(dir, 'default-network.xml')
      writeFileSync(xml, defaultBefore.xml)
      await virsh(uri, ['net-define', xml]).catch(() => {})
      if (defaultBefore.autostart) await virsh(uri, ['net-autostart', 'default']).catch(() => {})
      if (defaultBefore.active) await virsh(uri, ['net-start', 'default']).catch(() => {})
    }
    if (!undone) {
      // The playbook's undo did not run to the end: put back what it would have.
      if (kvmBefore) {
        chownSync('/dev/kvm', kvmBefore.uid, kvmBefore.gid)
        chmodSync('/dev/kvm', kvmBefore.mode)
      }
      rmSync(SYSCTL_FILE, {force: true})
      if (ipForwardOrig !== undefined) writeFileSync(IP_FORWARD, `${ipForwardOrig}\n`)
    }
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the workshop system test needs root (it starts libvirtd and creates bridges); run it as root or set FLEET_SKIP_SYSTEM=1')
    release = await holdExclusive(WORKSHOP_LOCK, 1_200_000) // the guide's names are one set per machine
    for (const bin of ['virsh', 'libvirtd', 'virtlogd', 'qemu-system-x86_64', 'qemu-img', 'dnsmasq', 'iptables', 'ip', 'ipmitool']) requireBinary(bin)
    await requireVirshBmc()
    dir = mkdtempSync(join(tmpdir(), 'fleet-workshop-'))
    home = join(dir, 'home')
    stateDir = join(dir, 'state')
    workDir = join(dir, 'work')
    consoleDir = join(dir, 'consoles')
    varsFile = join(dir, 'vars.yaml')
    factsDir = join(dir, 'facts.d')
    libvirt = await startLibvirt()
    uri = libvirt.uri
    // After startLibvirt, which may have applied udev's rule to /dev/kvm (kvm-device.ts).
    if (existsSync('/dev/kvm')) {
      const st = statSync('/dev/kvm')
      kvmBefore = {mode: st.mode & 0o7777, uid: st.uid, gid: st.gid}
    }

    // Never touch what is not ours: the guide's names and ports must be free.
    const nets = await names(['net-list', '--all', '--name'])
    const doms = await names(['list', '--all', '--name'])
    const pools = await names(['pool-list', '--all', '--name'])
    const taken = [
      ...NETWORKS.filter((n) => nets.includes(n.name) || existsSync(`/sys/class/net/${n.bridge}`)).map((n) => `network ${n.name}/${n.bridge}`),
      ...NODES.filter((n) => doms.includes(n.name)).map((n) => `domain ${n.name}`),
      ...NODES.filter((n) => udpPortBound(n.port)).map((n) => `UDP port ${n.port}`),
      ...(pools.includes('images') ? ['pool images'] : []),
      ...(existsSync(SYSCTL_FILE) ? [SYSCTL_FILE] : []),
    ]
    if (taken.length) {
      uri = '' // nothing of this is ours: the sweep must not touch it
      throw new Error(`already in use on this machine, so the workshop test will not run: ${taken.join(', ')}`)
    }
    if (nets.includes('default')) {
      const info = await netInfo('default')
      defaultBefore = {xml: await virsh(uri, ['net-dumpxml', '--inactive', 'default']), ...info}
    }
    ipForwardOrig = readFileSync(IP_FORWARD, 'utf8').trim()
    writeFileSync(
      varsFile,
      [
        'allow_emulation: true',
        'bmc_provider: virshbmc',
        'check_mirrors: false',
        'set_hostname: false',
        `bmc_password: ${secret}`,
        `work_dir: ${workDir}`,
        `console_log_dir: ${consoleDir}`,
        '',
      ].join('\n'),
    )
  }, 1_320_000)

  afterAll(async () => {
    try {
      await sweep()
    } finally {
      await libvirt?.stop()
      if (dir) rmSync(dir, {recursive: true, force: true})
      release?.()
    }
  })

  it('runs preflight, host, infra, bmc and inventory to the end', {timeout: 240_000}, async () => {
    const r = await runAgent(['run', '--only', PHASES])
    const records = ndjson(r.stdout)
    const ends = stepEnds(records)
    const failed = ends.find((e) => e.status === 'failed')
    expect(failed, `${failed?.step}: ${failed?.error}\n${r.stderr}`).toBeUndefined()
    expect(r.code, r.stderr).toBe(0)
    const byStep = Object.fromEntries(ends.map((e) => [e.step, e]))
    // The steps that build the workshop really ran (the rest: preflight skipped as all is fine,
    // libvirtd already running, virtualbmc steps off with bmc_provider virshbmc).
    for (const id of ['work-dir', 'ip-forward', 'ssh-key', 'pxe-network', 'mgmt-network', 'ext-network', 'pool', 'volumes', 'domains', 'virshbmc', 'baremetal-json']) {
      expect(byStep[id]?.status, id).toBe('ok')
    }
    expect(byStep['preflight-virt']).toMatchObject({status: 'skipped', reason: 'check'})
    // The probe tried a real guest: KVM's CPU modes first where there is a /dev/kvm, TCG last.
    expect(byStep['virt-probe']?.status).toBe('ok')
    const v = verdict()
    expect(v.usable).toBe(true)
    expect(['kvm', 'qemu']).toContain(v.domain_type)
    expect(v.tried.at(-1)).toMatchObject({ok: true, error: null})
    expect(v.tried.slice(0, -1).every((t) => !t.ok && t.error)).toBe(true)
    if (!existsSync('/dev/kvm')) expect(v.tried.map((t) => t.label)).toEqual(['emulation (TCG)'])
    else expect(v.tried[0]!.label).toBe('host-model')
    expect(byStep['hostname']).toMatchObject({status: 'skipped', reason: 'when'})
    expect(byStep['vbmc-venv']).toMatchObject({status: 'skipped', reason: 'when'})
    const said = records.flatMap((x) => (x.type === 'output' && x.step === 'domains' ? [x.data] : [])).join('')
    expect(said).toContain(`domains use type ${v.domain_type}`)
    bmcPids = NODES.map((n) => Number(readFileSync(join(workDir, 'bmc', `${n.name}.pid`), 'utf8').trim()))
  })

  it('made the three networks with the guide addresses and bridges; only libvirt DHCP on mgmt and ext', async () => {
    for (const n of NETWORKS) {
      expect(await netInfo(n.name)).toEqual({active: true, autostart: true})
      const xml = await virsh(uri, ['net-dumpxml', n.name])
      expect(xml).toContain(`<bridge name='${n.bridge}'`)
      expect(xml).toMatch(new RegExp(`<ip address='${n.address.replace(/\./g, '\\.')}' prefix='24'`))
      const addrs = JSON.parse((await run(requireBinary('ip'), ['-j', '-4', 'addr', 'show', 'dev', n.bridge])).stdout) as Array<{addr_info: Array<{local: string; prefixlen: number}>}>
      expect(addrs[0]?.addr_info).toContainEqual(expect.objectContaining({local: n.address, prefixlen: 24}))
    }
    const pxe = await virsh(uri, ['net-dumpxml', 'pxe'])
    expect(pxe).toContain("<forward mode='nat'")
    expect(pxe).toContain("<dns enable='no'/>")
    expect(pxe).not.toContain('<dhcp')
    for (const [name, net] of [['mgmt', '10.10.0'], ['ext', '10.20.0']]) {
      const xml = await virsh(uri, ['net-dumpxml', name])
      expect(xml).not.toContain('<forward')
      expect(xml).toContain(`<range start='${net}.2' end='${net}.200'/>`)
    }
    // libvirt runs a dnsmasq for mgmt and ext, none for pxe: Bifrost's dnsmasq will own PXE.
    const dnsmasqs = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8')
        } catch {
          return ''
        }
      })
      .filter((c) => c.includes('/var/lib/libvirt/dnsmasq/'))
    expect(dnsmasqs.some((c) => c.includes('mgmt.conf'))).toBe(true)
    expect(dnsmasqs.some((c) => c.includes('pxe.conf'))).toBe(false)
    // The guide's `default` network, which holds 192.168.122.0/24 too, is gone.
    expect(await names(['net-list', '--all', '--name'])).not.toContain('default')
    expect(readFileSync(IP_FORWARD, 'utf8').trim()).toBe('1')
    expect(readFileSync(SYSCTL_FILE, 'utf8')).toContain('net.ipv4.ip_forward = 1')
  })

  it('made the images pool and a 10 GiB qcow2 volume per node', async () => {
    const info = await virsh(uri, ['pool-info', 'images'])
    expect(info).toMatch(/^State:\s+running/m)
    expect(info).toMatch(/^Autostart:\s+yes/m)
    expect(await virsh(uri, ['pool-dumpxml', 'images'])).toContain('<path>/var/lib/libvirt/images</path>')
    for (const n of NODES) {
      const vol = await virsh(uri, ['vol-dumpxml', '--pool', 'images', `${n.name}.qcow2`])
      expect(vol).toContain("<format type='qcow2'/>")
      expect(vol).toContain("<capacity unit='bytes'>10737418240</capacity>")
      expect(existsSync(`/var/lib/libvirt/images/${n.name}.qcow2`)).toBe(true)
    }
  })

  it("defined two domains as the probe chose, network boot first, three virtio NICs each, serial console to a file, not started", async () => {
    const v = verdict()
    expect((await names(['list', '--all', '--name'])).filter((d) => NODES.some((n) => n.name === d)).sort()).toEqual(['compute00', 'controller00'])
    for (const n of NODES) {
      const xml = await virsh(uri, ['dumpxml', '--inactive', n.name])
      expect(xml).toMatch(new RegExp(`^<domain type='${v.domain_type}'`))
      if (v.domain_type === 'qemu') expect(xml).not.toMatch(/<cpu mode='host|<model fallback='forbid'>kvm64/) // libvirt fills in qemu64 itself
      else if (v.cpu_mode === 'custom') expect(xml).toMatch(new RegExp(`<cpu mode='custom' match='exact' check='none'>\\s*<model fallback='forbid'>${v.cpu_model}</model>`))
      else expect(xml).toContain(`<cpu mode='${v.cpu_mode}'`)
      expect(xml).toContain(`<uuid>${n.uuid}</uuid>`)
      expect(xml).toContain("<memory unit='KiB'>2097152</memory>")
      expect(xml).toMatch(/<vcpu placement='static'>1<\/vcpu>/)
      expect(xml.indexOf("<boot dev='network'/>")).toBeGreaterThan(-1)
      expect(xml.indexOf("<boot dev='network'/>")).toBeLessThan(xml.indexOf("<boot dev='hd'/>"))
      expect(xml).toContain(`<source path='${consoleDir}/${n.name}_console.log'/>`)
      expect(xml).toContain(`<source pool='images' volume='${n.name}.qcow2'/>`)
      const nics = await nicsOf(uri, n.name)
      expect(nics.map((x) => [x.type, x.source, x.model])).toEqual([
        ['network', 'pxe', 'virtio'],
        ['network', 'mgmt', 'virtio'],
        ['network', 'ext', 'virtio'],
      ])
      expect(await virsh(uri, ['domstate', n.name])).toBe('shut off')
    }
  })

  it('wrote baremetal.json in Bifrost format from live values: pxe MACs from domiflist, BMC ports', async () => {
    const file = join(workDir, 'baremetal.json')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const inv = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>
    expect(Object.keys(inv).sort()).toEqual(['compute00', 'controller00'])
    for (const n of NODES) {
      const pxeMac = (await nicsOf(uri, n.name)).find((x) => x.source === 'pxe')!.mac
      expect(inv[n.name]).toEqual({
        name: n.name,
        uuid: n.uuid,
        driver: 'ipmi',
        driver_info: {ipmi_address: BMC_ADDRESS, ipmi_port: String(n.port), ipmi_username: 'admin', ipmi_password: secret},
        nics: [{mac: pxeMac}],
        ansible_ssh_host: n.pxe,
        ipv4_address: n.pxe,
        host_groups: ['baremetal'],
        properties: {cpu_arch: 'x86_64', cpus: '1', disk_size: '10', ram: '2048'},
      })
    }
  })

  it('runs one BMC per node on its port, bound to 192.168.122.1 only, that powers exactly that node on and off', {timeout: 120_000}, async () => {
    const inv = JSON.parse(readFileSync(join(workDir, 'baremetal.json'), 'utf8')) as Record<string, {driver_info: {ipmi_address: string; ipmi_port: string; ipmi_username: string}}>
    const ss = requireBinary('ss')
    for (const n of NODES) {
      const listening = (await run(ss, ['-H', '-u', '-l', '-n', `sport = :${n.port}`])).stdout.trim().split('\n').filter(Boolean)
      expect(listening).toHaveLength(1)
      expect(listening[0]).toContain(`${BMC_ADDRESS}:${n.port}`)
    }
    // Drive each node through the BMC that baremetal.json names for it.
    for (const [name, entry] of Object.entries(inv)) {
      const other = NODES.find((n) => n.name !== name)!.name
      const bmc = {host: entry.driver_info.ipmi_address, user: entry.driver_info.ipmi_username, password: secret}
      const port = Number(entry.driver_info.ipmi_port)
      const state = () => virsh(uri, ['domstate', name])
      expect(await ipmitool(port, ['power', 'status'], bmc)).toBe('Chassis Power is off')
      expect(await ipmitool(port, ['power', 'on'], bmc)).toBe('Chassis Power Control: Up/On')
      await eventually(`${name} running after IPMI power on`, 15_000, async () => (await state()) === 'running')
      // The node really runs: its BIOS reaches the serial console log (under KVM in a second or two).
      await eventually(`${name}'s BIOS on its serial console`, 30_000, async () => readFileSync(join(consoleDir, `${name}_console.log`), 'utf8').includes('SeaBIOS'))
      expect(await virsh(uri, ['domstate', other])).toBe('shut off')
      expect(await ipmitool(port, ['power', 'status'], bmc)).toBe('Chassis Power is on')
      expect(await ipmitool(port, ['power', 'off'], bmc)).toBe('Chassis Power Control: Down/Off')
      await eventually(`${name} shut off after IPMI power off`, 15_000, async () => (await state()) === 'shut off')
      expect(await ipmitool(port, ['power', 'status'], bmc)).toBe('Chassis Power is off')
    }
    // The password is the var, not virshbmc's built-in one.
    await expect(ipmitool(NODES[0]!.port, ['power', 'status'], {host: BMC_ADDRESS, password: 'password', timeoutS: 1, retries: 1})).rejects.toThrow(/RMCP\+|session/)
  })

  it('kept the BMC password out of the journal and the step logs', () => {
    const walk = (d: string): string[] => readdirSync(d, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]))
    const files = walk(join(stateDir, 'runs'))
    expect(files.length).toBeGreaterThan(10)
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toContain(secret)
  })

  it('changes nothing when run again: every step is skipped by its check (or its condition)', {timeout: 180_000}, async () => {
    const inventoryBefore = statSync(join(workDir, 'baremetal.json')).mtimeMs
    const r = await runAgent(['run', '--only', PHASES])
    expect(r.code, r.stderr).toBe(0)
    const ends = stepEnds(ndjson(r.stdout))
    expect(ends.length).toBeGreaterThan(30)
    const notSkipped = ends.filter((e) => e.status !== 'skipped').map((e) => `${e.step}: ${e.status}`)
    expect(notSkipped).toEqual([])
    expect(new Set(ends.map((e) => e.reason))).toEqual(new Set(['check', 'when']))
    expect(ends.filter((e) => e.reason === 'check').length).toBeGreaterThanOrEqual(25)
    expect(statSync(join(workDir, 'baremetal.json')).mtimeMs).toBe(inventoryBefore)
    // The BMCs are the same processes.
    expect(NODES.map((n) => Number(readFileSync(join(workDir, 'bmc', `${n.name}.pid`), 'utf8').trim()))).toEqual(bmcPids)
  })

  it('leaves none of it behind after agent undo, and puts the default network back', {timeout: 180_000}, async () => {
    const ipForwardSaved = readFileSync(join(workDir, 'state', 'ip_forward.orig'), 'utf8').trim()
    const r = await runAgent(['undo'])
    expect(r.code, r.stderr).toBe(0)
    undone = true
    const ends = stepEnds(ndjson(r.stdout))
    expect(ends.filter((e) => e.status === 'failed')).toEqual([])
    for (const id of ['baremetal-json', 'virshbmc', 'domains', 'volumes', 'pool', 'pxe-network', 'mgmt-network', 'ext-network', 'default-network', 'ip-forward', 'work-dir']) {
      expect(ends.find((e) => e.step === id)?.status, id).toBe('ok')
    }

    expect((await names(['list', '--all', '--name'])).filter((d) => NODES.some((n) => n.name === d))).toEqual([])
    const nets = await names(['net-list', '--all', '--name'])
    for (const n of NETWORKS) {
      expect(nets).not.toContain(n.name)
      expect(existsSync(`/sys/class/net/${n.bridge}`), n.bridge).toBe(false)
    }
    expect(await names(['pool-list', '--all', '--name'])).not.toContain('images')
    for (const n of NODES) {
      expect(existsSync(`/var/lib/libvirt/images/${n.name}.qcow2`)).toBe(false)
      expect(existsSync(`/var/log/libvirt/qemu/${n.name}.log`)).toBe(false)
      expect(udpPortBound(n.port), `UDP ${n.port}`).toBe(false)
    }
    for (const pid of bmcPids) expect(liveWith(pid, 'virshbmc_bound'), `BMC pid ${pid}`).toBe(false)
    if (defaultBefore) {
      expect(nets).toContain('default')
      expect(await netInfo('default')).toEqual({active: defaultBefore.active, autostart: defaultBefore.autostart})
    }
    expect(existsSync(SYSCTL_FILE)).toBe(false)
    expect(existsSync(join(factsDir, 'virt.json'))).toBe(false)
    if (kvmBefore) {
      const st = statSync('/dev/kvm')
      expect({mode: st.mode & 0o7777, uid: st.uid, gid: st.gid}).toEqual(kvmBefore)
    }
    expect(readFileSync(IP_FORWARD, 'utf8').trim()).toBe(ipForwardSaved)
    expect(existsSync(workDir)).toBe(false)
    expect(existsSync(consoleDir)).toBe(false)
    expect(existsSync(join(home, '.ssh', 'id_ed25519'))).toBe(false)
  })
})
