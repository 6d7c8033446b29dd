/**
 * /dev/kvm on a machine without udev (containers, this CI machine kind) can be 0600 root:
 * libvirt's QEMU user (libvirt-qemu, group kvm) cannot open it, and libvirt 9 then probes
 * QEMU's capabilities again at every call that needs them (~50 s each here), so a libvirtd
 * started by a test answers `virsh version` only after minutes. On a jumphost udev's rule makes
 * the device root:kvm 0660, and the workshop's kvm-access step does the same before it starts
 * libvirtd. The system tests start libvirtd themselves, before any playbook runs, so they apply
 * the rule first, and put the device back as it was when they stop the daemons.
 */
import {chmodSync, chownSync, existsSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

const KVM = '/dev/kvm'
const ORIG = 'kvm-device.orig.json'

function kvmGid(): number | undefined {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith('kvm:'))
  return line ? Number(line.split(':')[2]) : undefined
}

/** Apply udev's rule for /dev/kvm where no udev did; remembers the old owner and mode in stateDir. */
export function openKvmToQemuGroup(stateDir: string): void {
  const gid = kvmGid()
  if (!existsSync(KVM) || existsSync('/run/udev/control') || gid === undefined || process.getuid?.() !== 0) return
  const st = statSync(KVM)
  if (st.gid === gid && (st.mode & 0o060) === 0o060) return
  const orig = join(stateDir, ORIG)
  if (!existsSync(orig)) writeFileSync(orig, JSON.stringify({uid: st.uid, gid: st.gid, mode: st.mode & 0o7777}))
  chownSync(KVM, 0, gid)
  chmodSync(KVM, 0o660)
}

/** Put /dev/kvm back as openKvmToQemuGroup found it. */
export function restoreKvm(stateDir: string): void {
  const orig = join(stateDir, ORIG)
  if (!existsSync(orig)) return
  const o = JSON.parse(readFileSync(orig, 'utf8')) as {uid: number; gid: number; mode: number}
  if (existsSync(KVM)) {
    chownSync(KVM, o.uid, o.gid)
    chmodSync(KVM, o.mode)
  }
  rmSync(orig, {force: true})
}
