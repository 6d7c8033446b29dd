/**
 * The workshop's BMC (playbooks/workshop/files/virshbmc_bound.py, pyghmi's virshbmc bound to one
 * address) answers the boot device commands Ironic's ipmi driver sends, with real ipmitool over
 * IPMI v2 (lanplus) on loopback against a throwaway TCG domain of our own: `chassis bootdev X
 * options=persistent` rewrites the domain's persistent boot order (one <os><boot dev=...>, no
 * per-device <boot order>), `chassis bootparam get 5` reads it back without crashing the BMC,
 * Ironic's `raw 0x00 0x08 0x03 0x08` is harmless, and a running domain only changes at its next
 * power on.
 *
 * Needs root (it may start libvirtd) and the Debian packages libvirt-daemon-system,
 * libvirt-clients, qemu-system-x86, ipmitool, python3-pyghmi, python3-libvirt; a missing one fails
 * the test with the package to install. The domain has 64 MiB, no NIC, an empty CD-ROM and no
 * disk: its BIOS halts at "No bootable device". FLEET_SKIP_SYSTEM=1 skips it.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {freeUdpPort, requireVirshBmc, udpPortBound} from '../../testbed/libvirt/libvirt-bmc.js'
import {requireBinary, run, startLibvirt, virsh, type LibvirtHandle} from '../../testbed/libvirt/libvirt-daemon.js'
import {eventually, liveWith, sleep} from '../helpers/processes.js'

const skip = process.env.FLEET_SKIP_SYSTEM === '1'

const SCRIPT = resolve('playbooks/workshop/files/virshbmc_bound.py')
// The interpreter the playbook runs it with (vars `python`), which has python3-libvirt.
const PYTHON = '/usr/bin/python3'

/** The <boot .../> elements in <os>, and whether any device has its own <boot order=...>. */
function bootOrder(xml: string): {os: string[]; perDevice: boolean} {
  const os = /<os\b[^>]*>([\s\S]*?)<\/os>/.exec(xml)?.[1] ?? ''
  const devices = /<devices>([\s\S]*?)<\/devices>/.exec(xml)?.[1] ?? ''
  return {os: os.match(/<boot\b[^>]*\/>/g) ?? [], perDevice: /<boot\s+order=/.test(devices)}
}

describe.skipIf(skip)('virshbmc_bound.py: the boot device as Ironic sets and reads it', () => {
  const domain = `fleet-bmc-test-${randomBytes(4).toString('hex')}`
  const password = `pw-${randomBytes(8).toString('hex')}`
  const qemuLog = `/var/log/libvirt/qemu/${domain}.log`
  let libvirt: LibvirtHandle | undefined
  let uri = ''
  let dir = ''
  let logFile = ''
  let port = 0
  let bmc: ChildProcess | undefined
  let bmcExited: Promise<void> | undefined
  let defined = false

  /** ipmitool -I lanplus on loopback, password through IPMI_PASSWORD; stdout and stderr both (it prints "... failed" on stderr and exits 0). */
  async function ipmi(args: string[], opts: {password?: string; timeoutS?: number; retries?: number} = {}): Promise<{out: string; stdout: string}> {
    const power = args[0] === 'power' && args[1] !== 'status'
    const {stdout, stderr} = await run(
      requireBinary('ipmitool'),
      ['-I', 'lanplus', '-H', '127.0.0.1', '-p', String(port), '-U', 'admin', '-E', '-N', String(opts.timeoutS ?? (power ? 10 : 3)), '-R', String(opts.retries ?? 2), ...args],
      {timeoutMs: 45_000, env: {...process.env, IPMI_PASSWORD: opts.password ?? password}},
    )
    return {out: `${stdout}\n${stderr}`.trim(), stdout: stdout.trim()}
  }
  const inactive = () => virsh(uri, ['dumpxml', '--inactive', domain])
  const live = () => virsh(uri, ['dumpxml', domain])
  const state = () => virsh(uri, ['domstate', domain])
  const bmcLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
  const selector = async () => /Boot Device Selector : (.+)/.exec((await ipmi(['chassis', 'bootparam', 'get', '5'])).stdout)?.[1]?.trim()
  /** The BMC still runs and answers, and has printed no traceback. */
  async function bmcAlive(): Promise<void> {
    expect(liveWith(bmc!.pid!, 'virshbmc_bound'), `BMC pid ${bmc!.pid}; log:\n${bmcLog()}`).toBe(true)
    expect((await ipmi(['power', 'status'])).stdout).toMatch(/^Chassis Power is (on|off)$/)
    expect(bmcLog()).not.toContain('Traceback')
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the virshbmc boot device test needs root (it may start libvirtd); run it as root or set FLEET_SKIP_SYSTEM=1')
    for (const bin of ['virsh', 'qemu-system-x86_64', 'ipmitool']) requireBinary(bin)
    await requireVirshBmc()
    dir = mkdtempSync(join(tmpdir(), 'fleet-bmc-bootdev-'))
    chmodSync(dir, 0o755)
    logFile = join(dir, 'bmc.log')
    libvirt = await startLibvirt()
    uri = libvirt.uri

    // Per-device boot order to start with (the CD-ROM first): the BMC must read it and drop it.
    const xmlFile = join(dir, 'domain.xml')
    writeFileSync(
      xmlFile,
      `<domain type='qemu'>
  <name>${domain}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <bios rebootTimeout='-1'/>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>${requireBinary('qemu-system-x86_64')}</emulator>
    <disk type='file' device='cdrom'>
      <target dev='hdc' bus='ide'/>
      <readonly/>
      <boot order='1'/>
    </disk>
    <memballoon model='none'/>
  </devices>
</domain>
`,
    )
    await virsh(uri, ['define', xmlFile])
    defined = true

    port = await freeUdpPort()
    const pidFile = join(dir, 'bmc.pid')
    const out = openSync(logFile, 'a')
    bmc = spawn(PYTHON, [SCRIPT, '--address', '127.0.0.1', '--port', String(port), '--domain', domain, '--uri', uri, '--pid-file', pidFile], {
      stdio: ['ignore', out, out],
      env: {...process.env, BMC_USER: 'admin', BMC_PASSWORD: password},
    })
    closeSync(out)
    let exited = false
    bmcExited = new Promise<void>((r) =>
      bmc!.once('exit', () => {
        exited = true
        r()
      }),
    )
    await eventually(`the BMC writing ${pidFile}`, 20_000, async () => {
      if (exited) throw new Error(`virshbmc_bound.py exited before it listened; log:\n${bmcLog()}`)
      return existsSync(pidFile)
    })
    expect(Number(readFileSync(pidFile, 'utf8').trim())).toBe(bmc.pid)
    expect(udpPortBound(port)).toBe(true)
  })

  afterAll(async () => {
    try {
      if (bmc?.pid && liveWith(bmc.pid, 'virshbmc_bound')) {
        process.kill(bmc.pid, 'SIGTERM')
        const gone = await Promise.race([bmcExited!.then(() => true), sleep(10_000).then(() => false)])
        if (!gone && liveWith(bmc.pid, 'virshbmc_bound')) process.kill(bmc.pid, 'SIGKILL')
      }
      if (uri && defined) {
        await virsh(uri, ['destroy', domain]).catch(() => {})
        await virsh(uri, ['undefine', domain]).catch(() => {})
      }
      rmSync(qemuLog, {force: true})
    } finally {
      await libvirt?.stop()
      if (dir) rmSync(dir, {recursive: true, force: true})
    }
  })

  it('reads the persistent per-device boot order: the CD-ROM first', async () => {
    expect(bootOrder(await inactive())).toEqual({os: [], perDevice: true})
    expect(await selector()).toBe('Force Boot from CD/DVD')
    await bmcAlive()
  })

  it('`chassis bootdev pxe options=persistent` makes <boot dev=network/> the only boot entry', async () => {
    const r = await ipmi(['chassis', 'bootdev', 'pxe', 'options=persistent'])
    expect(r.out).not.toMatch(/failed/i)
    expect(r.stdout).toBe('Set Boot Device to pxe')
    expect(bootOrder(await inactive())).toEqual({os: ["<boot dev='network'/>"], perDevice: false})
  })

  it('`chassis bootparam get 5` says Force PXE, for all future boots, and the BMC lives on', async () => {
    const {stdout} = await ipmi(['chassis', 'bootparam', 'get', '5'])
    expect(stdout).toContain('Boot Flag Valid')
    expect(stdout).toContain('Options apply to all future boots')
    expect(stdout).toMatch(/Boot Device Selector : Force PXE$/m)
    expect(stdout).toContain('BIOS PC Compatible (legacy) boot')
    await bmcAlive()
  })

  it('`chassis bootdev disk options=persistent` switches it to hd', async () => {
    const r = await ipmi(['chassis', 'bootdev', 'disk', 'options=persistent'])
    expect(r.out).not.toMatch(/failed/i)
    expect(bootOrder(await inactive())).toEqual({os: ["<boot dev='hd'/>"], perDevice: false})
    expect(await selector()).toBe('Force Boot from default Hard-Drive')
  })

  it("takes Ironic's `raw 0x00 0x08 0x03 0x08` (boot flag timeout off) and keeps running", async () => {
    await ipmi(['raw', '0x00', '0x08', '0x03', '0x08'])
    expect(bootOrder(await inactive()).os).toEqual(["<boot dev='hd'/>"])
    await bmcAlive()
  })

  it("takes Ironic's UEFI form (`raw 0x00 0x08 0x05 0xe0 0x04 ...`) as PXE", async () => {
    await ipmi(['raw', '0x00', '0x08', '0x05', '0xe0', '0x04', '0x00', '0x00', '0x00'])
    expect(bootOrder(await inactive())).toEqual({os: ["<boot dev='network'/>"], perDevice: false})
    expect(await selector()).toBe('Force PXE')
  })

  it('refuses a boot device libvirt has no name for with "invalid data field", changing nothing', async () => {
    const before = await inactive()
    const r = await ipmi(['chassis', 'bootdev', 'floppy'])
    expect(r.out).toContain('Set Chassis Boot Parameter 5 failed: Invalid data field in request')
    expect(await inactive()).toBe(before)
    await bmcAlive()
  })

  it('changes a running domain only at its next power on', {timeout: 120_000}, async () => {
    await ipmi(['chassis', 'bootdev', 'disk', 'options=persistent'])
    expect((await ipmi(['power', 'on'])).stdout).toBe('Chassis Power Control: Up/On')
    await eventually(`${domain} running after IPMI power on`, 15_000, async () => (await state()) === 'running')
    expect(bootOrder(await live()).os).toEqual(["<boot dev='hd'/>"])

    expect((await ipmi(['chassis', 'bootdev', 'pxe', 'options=persistent'])).out).not.toMatch(/failed/i)
    expect(bootOrder(await live()).os, 'the running domain').toEqual(["<boot dev='hd'/>"])
    expect(bootOrder(await inactive()).os, 'its definition').toEqual(["<boot dev='network'/>"])
    expect(await selector()).toBe('Force PXE')
    expect(await state()).toBe('running')

    expect((await ipmi(['power', 'off'])).stdout).toBe('Chassis Power Control: Down/Off')
    await eventually(`${domain} shut off after IPMI power off`, 15_000, async () => (await state()) === 'shut off')
    expect((await ipmi(['power', 'on'])).stdout).toBe('Chassis Power Control: Up/On')
    await eventually(`${domain} running again`, 15_000, async () => (await state()) === 'running')
    expect(bootOrder(await live()).os, 'after the next power on').toEqual(["<boot dev='network'/>"])
    expect((await ipmi(['power', 'off'])).stdout).toBe('Chassis Power Control: Down/Off')
    await eventually(`${domain} shut off`, 15_000, async () => (await state()) === 'shut off')
  })

  it('refuses a wrong password, and still answers the right one', async () => {
    const before = bootOrder(await inactive())
    await expect(ipmi(['power', 'status'], {password: 'password', timeoutS: 1, retries: 1})).rejects.toThrow(/RMCP\+|session/)
    await expect(ipmi(['chassis', 'bootdev', 'disk', 'options=persistent'], {password: `${password}x`, timeoutS: 1, retries: 1})).rejects.toThrow(/RMCP\+|session/)
    expect(bootOrder(await inactive()), 'the refused bootdev disk').toEqual(before)
    await bmcAlive()
    expect(bmcLog()).not.toContain(password)
  })
})
