#!/usr/bin/python3
"""Which accelerator and CPU model the workshop's domains can really run with, found by trying.

A /dev/kvm that exists says little: on a jumphost whose flavour's nested virtualisation is broken
QEMU aborts at once ("failed to set MSR 0x10a") with the host's CPU model, or starts a guest that
never runs. So a throwaway transient domain, built like the workshop's domains (same machine type,
accelerator and <cpu>), boots a 512-byte boot sector that writes a marker to the serial port; the
first CPU mode whose guest prints the marker within the timeout wins. Without one, TCG (domain
type qemu) when emulation is allowed, else one sentence with QEMU's error.

    virt_probe.py probe       probe, write the verdict to FACTS_FILE (the agent reads it as
                              facts.local.virt), print the choice; exit 1 with a sentence if unusable
    virt_probe.py cached      exit 0 if FACTS_FILE holds a usable verdict for this host as it is now
    virt_probe.py preflight   read-only: exit 1 with a sentence if there is no /dev/kvm and emulation
                              is not allowed, or if this boot's verdict says KVM is unusable
    virt_probe.py kvm-access check|fix|undo
                              can libvirt's QEMU user open /dev/kvm? fix: root:kvm 0660, what udev's
                              rule gives it on a normal host (hosts without udev leave it 0600 root,
                              and libvirt then re-probes QEMU for ~50 s at every domain start)

Environment: LIBVIRT_URI, ALLOW_EMULATION (true/false), FACTS_FILE, MACHINE_TYPE, PROBE_TIMEOUT
(seconds per try), QEMU_USER, STATE_DIR (kvm-access: where the original owner and mode are kept);
KVM_DEVICE and VIRSH only for tests.
"""
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape, quoteattr

MARKER = b'FLEET-VIRT-PROBE-OK'
KVM = os.environ.get('KVM_DEVICE', '/dev/kvm')  # the unit tests point these at stand-ins
VIRSH = os.environ.get('VIRSH', 'virsh')
QEMU = '/usr/bin/qemu-system-x86_64'


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f'virt_probe.py: {name} is not set')
    return value


def boot_sector():
    """Real-mode code at 0x7c00: print MARKER on COM1 (0x3f8), try an ACPI power-off, halt."""
    msg = MARKER + b'\r\n\0'
    code = bytearray(b'\xfa\xfc\x31\xc0\x8e\xd8')  # cli; cld; xor ax,ax; mov ds,ax
    code += b'\xba\xf8\x03'  # mov dx,0x3f8
    si_at = len(code)
    code += b'\xbe\x00\x00'  # mov si,msg
    loop = len(code)
    code += b'\xac\x84\xc0'  # lodsb; test al,al
    jz_at = len(code)
    code += b'\x74\x00'  # jz done
    code += b'\xee'  # out dx,al
    code += bytes([0xeb, (loop - (len(code) + 2)) & 0xff])  # jmp loop
    code[jz_at + 1] = len(code) - (jz_at + 2)
    code += b'\xba\x04\x06\xb8\x00\x20\xef'  # mov dx,0x604; mov ax,0x2000; out dx,ax (q35 PM1a_CNT: S5)
    code += b'\xba\x04\xb0\xef'  # mov dx,0xb004; out dx,ax (piix4 PM1a_CNT)
    hlt = len(code)
    code += b'\xf4' + bytes([0xeb, (hlt - (len(code) + 3)) & 0xff])  # hlt; jmp hlt
    struct.pack_into('<H', code, si_at + 1, 0x7c00 + len(code))
    code += msg
    return bytes(code).ljust(510, b'\0') + b'\x55\xaa'


def virsh(*args, timeout=120):
    return subprocess.run([VIRSH, '-c', env('LIBVIRT_URI'), *args], capture_output=True, text=True, timeout=timeout)


def host_model_base():
    """The named model libvirt's host-model starts from (without the host's extra features)."""
    r = virsh('domcapabilities', '--virttype', 'kvm')
    m = re.search(r"<mode name='host-model' supported='yes'>\s*<model[^>]*>([^<]+)</model>", r.stdout)
    return m.group(1).strip() if m else 'qemu64'


def candidates(allow_emulation):
    """(domain type, cpu mode, cpu model) in the order the domains would want them."""
    out = []
    if os.path.exists(KVM):
        out += [('kvm', 'host-model', None), ('kvm', 'host-passthrough', None), ('kvm', 'custom', host_model_base())]
    if allow_emulation:
        out.append(('qemu', None, None))
    return out


def cpu_xml(mode, model):
    if mode == 'host-model':
        return "<cpu mode='host-model'><model fallback='allow'/></cpu>"
    if mode == 'host-passthrough':
        return "<cpu mode='host-passthrough'/>"
    if mode == 'custom':
        return f"<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>{escape(model)}</model></cpu>"
    return ''


def qemu_error(stderr):
    """QEMU's own words from virsh's error, without timestamps and libvirt's wrapping."""
    text = re.sub(r'\d{4}-\d\d-\d\dT[\d:.]+Z ', '', stderr)
    text = re.sub(r'^error: (Failed to create domain from \S+\s*)?', '', text.strip(), flags=re.M)
    text = text.replace('internal error: qemu unexpectedly closed the monitor: ', '')
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for l in lines:
        if 'qemu-system' in l and 'error' in l:
            return re.sub(r'^qemu-system-\S+: (-accel \S+: )?(error: )?', '', l)
    return '; '.join(lines)[:300] or 'no error text'


def try_guest(dom_type, mode, model, timeout):
    """Start one throwaway guest; (True, None) when it ran the boot sector, else (False, why)."""
    work = tempfile.mkdtemp(prefix='fleet-virt-probe-')
    os.chmod(work, 0o755)  # libvirt's QEMU user reads the disk and writes the serial log
    name = f'fleet-virt-probe-{os.getpid()}'
    disk, serial = os.path.join(work, 'probe.img'), os.path.join(work, 'serial.log')
    with open(disk, 'wb') as f:
        f.write(boot_sector().ljust(1 << 20, b'\0'))
    xml = f"""<domain type='{dom_type}'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine={quoteattr(env('MACHINE_TYPE', 'pc'))}>hvm</type><boot dev='hd'/><bios useserial='yes'/></os>
  {cpu_xml(mode, model)}
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file={quoteattr(disk)}/><target dev='hda' bus='ide'/></disk>
    <serial type='file'><source path={quoteattr(serial)}/><target port='0'/></serial>
  </devices>
</domain>"""
    xml_file = os.path.join(work, 'probe.xml')
    with open(xml_file, 'w') as f:
        f.write(xml)
    try:
        r = virsh('create', xml_file, timeout=max(120, timeout * 3))
        if r.returncode != 0:
            return False, qemu_error(r.stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(serial, 'rb') as f:
                    if MARKER in f.read():
                        return True, None
            except OSError:
                pass
            time.sleep(0.2)
        return False, f'the guest started but ran no code within {timeout} s'
    finally:
        virsh('destroy', name, timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def key(allow_emulation):
    """What the verdict depends on: this boot, the device, QEMU, libvirt and the vars."""
    parts = [open('/proc/sys/kernel/random/boot_id').read().strip(), str(allow_emulation), env('MACHINE_TYPE', 'pc')]
    for path in (KVM, QEMU):
        try:
            st = os.stat(path)
            parts.append(f'{path}:{st.st_mode:o}:{st.st_uid}:{st.st_gid}:{st.st_size}:{int(st.st_mtime)}')
        except OSError:
            parts.append(f'{path}:absent')
    parts.append(virsh('version').stdout.strip())
    return hashlib.sha256('\n'.join(parts).encode()).hexdigest()[:16]


def verdict_sentence(tried, allow_emulation):
    kvm_tries = [t for t in tried if t['domain_type'] == 'kvm']
    if not os.path.exists(KVM):
        flag = 'yes' if re.search(r'\b(vmx|svm)\b', open('/proc/cpuinfo').read()) else 'no'
        if not allow_emulation:
            return (f'No /dev/kvm (CPU virtualisation flag: {flag}): use a flavour with nested virtualisation, or set '
                    'allow_emulation: true to run the nodes under QEMU emulation (domain type qemu; a real deploy then takes hours).')
    why = '; '.join(f"{t['label']}: {t['error']}" for t in kvm_tries)
    if not allow_emulation:
        return (f'KVM is present (/dev/kvm) but unusable, no guest ran with it ({why}): use a flavour whose nested '
                'virtualisation works, or set allow_emulation: true to run the nodes under QEMU emulation (slow).')
    qemu = [t for t in tried if t['domain_type'] == 'qemu']
    return f"Neither KVM ({why or 'no /dev/kvm'}) nor QEMU emulation ran a guest here ({qemu[0]['error'] if qemu else 'not tried'}): see /var/log/libvirt/qemu/."


def probe():
    allow = env('ALLOW_EMULATION') == 'true'
    timeout = int(env('PROBE_TIMEOUT', '20'))
    tried = []
    choice = None
    for dom_type, mode, model in candidates(allow):
        label = 'emulation (TCG)' if dom_type == 'qemu' else mode if mode != 'custom' else f'CPU model {model}'
        started = time.monotonic()
        ok, why = try_guest(dom_type, mode, model, timeout)
        tried.append({'domain_type': dom_type, 'cpu_mode': mode, 'cpu_model': model, 'label': label, 'ok': ok, 'error': why, 'seconds': round(time.monotonic() - started, 1)})
        print(f"{'ran' if ok else 'failed'}: {label}{'' if ok else ': ' + why} ({tried[-1]['seconds']} s)", flush=True)
        if ok:
            choice = tried[-1]
            break
    verdict = {
        'key': key(allow),
        'usable': choice is not None,
        'domain_type': choice and choice['domain_type'],
        'accel': choice and ('kvm' if choice['domain_type'] == 'kvm' else 'tcg'),
        'cpu_mode': choice and choice['cpu_mode'],
        'cpu_model': choice and choice['cpu_model'],
        'tried': tried,
        'error': None if choice else verdict_sentence(tried, allow),
        'probed_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
    }
    path = env('FACTS_FILE')
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(verdict, f, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    if not choice:
        print(verdict['error'], file=sys.stderr)
        return 1
    print(f"the nodes run as domain type {verdict['domain_type']} ({label}); verdict in {path}")
    return 0


def load_verdict():
    try:
        with open(env('FACTS_FILE')) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cached():
    v = load_verdict()
    return 0 if v and v.get('usable') and v.get('key') == key(env('ALLOW_EMULATION') == 'true') else 1


def preflight():
    allow = env('ALLOW_EMULATION') == 'true'
    if not os.path.exists(KVM) and not allow:
        print(verdict_sentence([], False), file=sys.stderr)
        return 1
    v = load_verdict()
    # A verdict of this boot (an earlier run's probe) is as good as a new one, and takes no time.
    if v and not v.get('usable') and shutil.which(VIRSH) and v.get('key') == key(allow):
        print(v['error'], file=sys.stderr)
        return 1
    return 0


def qemu_user_can_open():
    user = env('QEMU_USER', 'libvirt-qemu')
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return True  # no such user: QEMU runs as someone else, nothing to say
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups(os.getgrouplist(user, pw.pw_gid))
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            os.close(os.open(KVM, os.O_RDWR))
            os._exit(0)
        except OSError:
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0


def kvm_access(action):
    orig = os.path.join(env('STATE_DIR'), 'kvm-device.orig')
    if action == 'check':
        return 0 if not os.path.exists(KVM) or qemu_user_can_open() else 1
    if action == 'fix':
        st = os.stat(KVM)
        if not os.path.exists(orig):
            with open(orig, 'w') as f:
                json.dump({'uid': st.st_uid, 'gid': st.st_gid, 'mode': stat.S_IMODE(st.st_mode)}, f)
        os.chown(KVM, 0, grp.getgrnam('kvm').gr_gid)
        os.chmod(KVM, 0o660)
        return 0 if qemu_user_can_open() else 1
    if action == 'undo':
        try:
            with open(orig) as f:
                o = json.load(f)
        except OSError:
            return 0
        os.chown(KVM, o['uid'], o['gid'])
        os.chmod(KVM, o['mode'])
        os.remove(orig)
        return 0
    sys.exit(__doc__)


if __name__ == '__main__':
    cmd = sys.argv[1:]
    if cmd == ['probe']:
        sys.exit(probe())
    if cmd == ['cached']:
        sys.exit(cached())
    if cmd == ['preflight']:
        sys.exit(preflight())
    if len(cmd) == 2 and cmd[0] == 'kvm-access':
        sys.exit(kvm_access(cmd[1]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
