/**
 * System test of the workshop's ramdisk builder (playbooks/workshop/files/build_ramdisk.sh): builds
 * the kernel + initramfs from Debian's own packages into a temp dir (the kernel package is fetched
 * with `apt-get download`, so apt must reach the archive or a mirror), boots them under QEMU/TCG
 * with two virtio NICs, and logs in over SSH with a fresh ed25519 key.
 *
 * Needs root and the Debian packages busybox-static, dropbear-bin, cpio, qemu-system-x86,
 * openssh-client (kmod's depmod is used when present). Set FLEET_SKIP_SYSTEM=1 to skip.
 *
 * The guest gets two NICs on two user-mode (slirp) networks: eth0 first, without a port forward,
 * and eth1, the BOOTIF one, whose network forwards 127.0.0.1:PORT to the guest's port 22. Only a
 * ramdisk that configured the BOOTIF NIC answers SSH, and the console says which NIC it chose.
 * Nothing leaves loopback: slirp's networks exist inside the QEMU process only.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MissingBinaryError, requireBinary, run} from '../../testbed/libvirt/libvirt-daemon.js'

const skip = process.env.FLEET_SKIP_SYSTEM === '1'

const BUILDER = resolve('playbooks/workshop/files/build_ramdisk.sh')

/** Which Debian 12 package to install for each binary this test and the builder use. */
const PACKAGE: Readonly<Record<string, string>> = {
  bash: 'bash',
  busybox: 'busybox-static',
  dropbear: 'dropbear-bin',
  dropbearkey: 'dropbear-bin',
  cpio: 'cpio',
  gzip: 'gzip',
  'dpkg-deb': 'dpkg',
  'apt-get': 'apt',
  'qemu-system-x86_64': 'qemu-system-x86',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
}

/** requireBinary with this test's package names in the error. */
function need(name: string): string {
  try {
    return requireBinary(name)
  } catch (error) {
    if (error instanceof MissingBinaryError) throw new MissingBinaryError(name, PACKAGE[name] ?? error.debianPackages)
    throw error
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** A TCP port free on loopback right now (QEMU binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

describe.skipIf(skip)('workshop ramdisk: built from Debian packages, boots under TCG, answers SSH', () => {
  // Locally administered MACs, random per run.
  const tag = randomBytes(3).toString('hex').match(/../g)!.join(':')
  const bootMac = `52:54:01:${tag}`
  const otherMac = `52:54:02:${tag}`
  const bootif = `01-${bootMac.replace(/:/g, '-')}`

  let dir = ''
  let outDir = ''
  let key = ''
  let serialLog = ''
  let serial = ''
  let qemu: ChildProcess | undefined
  let qemuExit: Promise<void> | undefined
  let qemuExited = false
  let port = 0
  const timings: Record<string, string> = {}
  const env = () => ({...process.env, OUT_DIR: outDir, SSH_PUBKEY: `${key}.pub`, WORK_DIR: join(dir, 'work')})

  const tail = () => serial.split('\n').slice(-25).join('\n')

  async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await check())) {
      if (qemuExited) throw new Error(`QEMU exited before ${what}; serial console:\n${tail()}`)
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; serial console:\n${tail()}`)
      await sleep(250)
    }
  }

  const ssh = (command: string, timeoutMs = 20_000) =>
    run(
      need('ssh'),
      ['-i', key, '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
        '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', command],
      {timeoutMs},
    )

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the ramdisk system test runs as root (set FLEET_SKIP_SYSTEM=1 to skip it)')
    for (const bin of ['bash', 'busybox', 'dropbear', 'dropbearkey', 'cpio', 'gzip', 'dpkg-deb', 'apt-get', 'qemu-system-x86_64', 'ssh', 'ssh-keygen']) need(bin)
    dir = mkdtempSync(join(tmpdir(), 'fleet-ramdisk-'))
    outDir = join(dir, 'out')
    key = join(dir, 'id_ed25519')
    serialLog = join(dir, 'serial.log')
    await run(need('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', 'fleet-ramdisk-test', '-f', key])
  })

  afterAll(async () => {
    if (qemu?.pid && !qemuExited) {
      process.kill(qemu.pid, 'SIGTERM')
      const stopped = await Promise.race([qemuExit!.then(() => true), sleep(5_000).then(() => false)])
      if (!stopped && !qemuExited) process.kill(qemu.pid, 'SIGKILL')
    }
    if (serialLog && serial) writeFileSync(serialLog, serial)
    if (Object.keys(timings).length) {
      console.log(`ramdisk timings: ${Object.entries(timings).map(([k, v]) => `${k} ${v}`).join(', ')}`)
    }
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('builds a kernel and a gzip-compressed newc initramfs of a few MB', async () => {
    const started = Date.now()
    const {stderr} = await run(need('bash'), [BUILDER], {env: env(), timeoutMs: 150_000})
    timings.build = seconds(Date.now() - started)
    console.log(`build_ramdisk (first build, ${timings.build}):\n${stderr.trim()}`)

    const kernel = readFileSync(join(outDir, 'kernel'))
    const initramfs = readFileSync(join(outDir, 'initramfs'))
    // bzImage: "HdrS" at 0x202.
    expect(kernel.subarray(0x202, 0x206).toString('latin1')).toBe('HdrS')
    expect(initramfs.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
    expect(initramfs.length).toBeGreaterThan(1 << 20)
    expect(initramfs.length).toBeLessThan(16 << 20)
    expect(stderr).toMatch(/modules \(load order\): .*virtio_pci .*net_failover virtio_net/)
    timings.sizes = `kernel ${(kernel.length / 1048576).toFixed(1)} MiB, initramfs ${(initramfs.length / 1048576).toFixed(1)} MiB`

    const {stdout: listing} = await run(need('bash'), ['-c', `gzip -dc "$1" | cpio -it --quiet`, 'list', join(outDir, 'initramfs')])
    const files = listing.split('\n')
    for (const f of ['init', 'bin/busybox', 'usr/sbin/dropbear', 'usr/bin/dropbearkey', 'root/.ssh/authorized_keys', 'lib/modules/fleet/virtio_net.ko', 'etc/fleet/udhcpc.script']) {
      expect(files).toContain(f)
    }
  }, 180_000)

  it('rebuilds nothing on a second run with the same inputs', async () => {
    const before = ['kernel', 'initramfs'].map((f) => statSync(join(outDir, f)))
    const started = Date.now()
    const {stderr} = await run(need('bash'), [BUILDER], {env: env(), timeoutMs: 60_000})
    timings['second build (no-op)'] = seconds(Date.now() - started)
    expect(stderr).toMatch(/up to date: nothing rebuilt/)
    const after = ['kernel', 'initramfs'].map((f) => statSync(join(outDir, f)))
    for (const [i, s] of after.entries()) {
      expect(s.ino).toBe(before[i]!.ino)
      expect(s.mtimeMs).toBe(before[i]!.mtimeMs)
    }
  }, 90_000)

  it('boots under TCG, configures the BOOTIF NIC and answers SSH with the key', async () => {
    port = await freePort()
    const args = [
      '-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot',
      '-kernel', join(outDir, 'kernel'), '-initrd', join(outDir, 'initramfs'),
      '-append', `console=ttyS0 BOOTIF=${bootif}`,
      // eth0: a NIC that must not be chosen (no port forward behind it).
      '-netdev', 'user,id=n1,restrict=on', '-device', `virtio-net-pci,netdev=n1,mac=${otherMac}`,
      // eth1: the BOOTIF NIC, the only way in.
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', `virtio-net-pci,netdev=n0,mac=${bootMac}`,
      '-object', 'rng-random,id=rng0,filename=/dev/urandom', '-device', 'virtio-rng-pci,rng=rng0',
    ]
    const started = Date.now()
    // stdin stays an open pipe: -nographic muxes the serial console and the monitor on stdio.
    qemu = spawn(need('qemu-system-x86_64'), args, {stdio: ['pipe', 'pipe', 'pipe']})
    qemuExit = new Promise((resolve) => qemu!.once('exit', () => {
      qemuExited = true
      resolve()
    }))
    qemu.stdout!.on('data', (chunk: Buffer) => (serial += chunk.toString('latin1')))
    qemu.stderr!.on('data', (chunk: Buffer) => (serial += chunk.toString('latin1')))

    await waitFor('"fleet-ramdisk: ready" on the serial console', 90_000, () => /fleet-ramdisk: ready /.test(serial))
    timings['boot to ready'] = seconds(Date.now() - started)

    // The init reports its choice: the BOOTIF NIC (eth1), not the first one.
    expect(serial).toMatch(new RegExp(`fleet-ramdisk: using interface eth1 \\(${bootMac}, BOOTIF `))
    expect(serial).toMatch(/fleet-ramdisk: ready 10\.0\.2\.15 /)

    let uname = ''
    let lastError = ''
    await waitFor('SSH login', 60_000, async () => {
      try {
        uname = (await ssh('uname -a')).stdout.trim()
        return true
      } catch (error) {
        lastError = (error as Error).message
        return false
      }
    }).catch((error: Error) => {
      throw new Error(`${error.message}\nlast ssh error: ${lastError}`)
    })
    timings['boot to SSH'] = seconds(Date.now() - started)
    console.log(`ssh uname -a: ${uname}`)
    expect(uname).toMatch(/^Linux fleet-ramdisk \S+ .*x86_64/)

    // And from inside: the address sits on the BOOTIF NIC only.
    const {stdout: addrs} = await ssh(`cat /sys/class/net/eth1/address; ip -4 -o addr show dev eth1; echo eth0:; ip -4 -o addr show dev eth0`)
    const [eth1Mac, eth1Addr, , eth0Addr = ''] = addrs.trim().split('\n')
    expect(eth1Mac).toBe(bootMac)
    expect(eth1Addr).toMatch(/inet 10\.0\.2\.15\/24/)
    expect(eth0Addr.trim()).toBe('')
  }, 150_000)
})
