#!/usr/bin/python3
"""Which accelerator and CPU model the workshop's domains can really run with, found by trying.

A /dev/kvm that exists says little: on a jumphost whose flavour's nested virtualisation is broken
QEMU aborts at once ("failed to set MSR 0x10a") with the host's CPU model, or starts a guest that
never runs, or runs SeaBIOS and then hangs in iPXE. So a throwaway transient domain, built like
the workshop's domains (same machine type, accelerator and <cpu>, a virtio NIC whose iPXE ROM
network-boots first, on user-mode networking), then boots a 512-byte boot sector that enters
64-bit mode, touches every MiB of a node's memory and writes a marker to the serial port; the
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
(seconds per try), PROBE_MEM_MB (the guest's memory: a node's), QEMU_USER, STATE_DIR (kvm-access: where the original owner and mode are kept);
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
CPU_MARKER = b'FLEET-VIRT-PROBE-CPU'
KVM = os.environ.get('KVM_DEVICE', '/dev/kvm')  # the unit tests point these at stand-ins
VIRSH = os.environ.get('VIRSH', 'virsh')
QEMU = '/usr/bin/qemu-system-x86_64'


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f'virt_probe.py: {name} is not set')
    return value


def boot_sector(mem_mb=2048):
    """The disk the probe guest boots once its NIC's iPXE found nothing on the network (the iPXE
    ROM runs first, as on the nodes, and is where a broken nested KVM shows itself here):
    512 bytes of x86 at 0x7c00 that do in a second what the nodes' firmware and kernel need:
    print CPU_MARKER on COM1 in real mode; wait for five ticks of the BIOS timer (IRQ 0, so
    interrupts arrive); build identity page tables for the first 2 GiB (2 MiB pages), switch
    straight to 64-bit long mode (PAE, EFER.LME by wrmsr, paging); write and read back a word in
    every MiB of the guest's memory (mem_mb, as much as a node has); print MARKER from 64-bit
    code; then try an ACPI power-off. On this machine kind's broken nested KVM the CPU model
    kvm64 passes all of it but the memory above the first MiBs, where its vCPU spins in the host
    kernel, as iPXE and Linux do there once they move up: SeaBIOS's banner alone proves nothing."""
    top = min(mem_mb, 2047) << 20  # below 2^31: an imm32 that sign-extends to itself
    parts = []  # bytes, or (kind, label) placeholders patched once the labels are known
    labels = {}

    def emit(*items):
        parts.extend(items)

    def label(name):
        labels[name] = sum(len(p) if isinstance(p, bytes) else {'abs16': 2, 'abs32': 4, 'rel16': 2, 'rel8': 1}[p[0]] for p in parts)

    emit(b'\xfa\xfc\x31\xc0\x8e\xd8\x8e\xc0\x8e\xd0\xbc\x00\x7c')  # cli; cld; ds=es=ss=0; sp=0x7c00
    emit(b'\xba\xf8\x03\xbe', ('abs16', 'msg1'), b'\xe8', ('rel16', 'print'))  # dx=COM1; si=msg1; call print
    emit(b'\xfb\x8b\x1e\x6c\x04')  # sti; mov bx,[0x46c]
    label('wait')
    emit(b'\xf4\xa1\x6c\x04\x29\xd8\x83\xf8\x05\x72', ('rel8', 'wait'))  # hlt; ax=[0x46c]-bx; jb wait while < 5
    emit(b'\xfa')  # cli: no IDT in long mode
    emit(b'\xbf\x00\x10\x66\x31\xc0\xb9\x00\x10\xf3\x66\xab')  # di=0x1000; eax=0; cx=4096; rep stosd (4 pages)
    emit(b'\xc7\x06\x00\x10\x03\x20')  # PML4[0] = 0x2000 | present | rw
    emit(b'\xc7\x06\x00\x20\x03\x30')  # PDPT[0] = 0x3000 | present | rw (0-1 GiB)
    emit(b'\xc7\x06\x08\x20\x03\x40')  # PDPT[1] = 0x4000 | present | rw (1-2 GiB)
    emit(b'\xbf\x00\x30\x66\xb8\x83\x00\x00\x00\xb9\x00\x04')  # di=0x3000; eax=0x83; cx=1024
    label('fill')
    emit(b'\x66\xab\x83\xc7\x04\x66\x05\x00\x00\x20\x00\xe2', ('rel8', 'fill'))  # PD[i] = i * 2 MiB | PS | rw | present
    emit(b'\x66\xb8\x20\x00\x00\x00\x0f\x22\xe0')  # cr4 = PAE
    emit(b'\x66\xb8\x00\x10\x00\x00\x0f\x22\xd8')  # cr3 = 0x1000
    emit(b'\x66\xb9\x80\x00\x00\xc0\x0f\x32\x0d\x00\x01\x0f\x30')  # EFER |= LME (rdmsr/wrmsr 0xc0000080)
    emit(b'\x0f\x01\x16', ('abs16', 'gdtr'))  # lgdt [gdtr]
    emit(b'\x0f\x20\xc0\x66\x0d\x01\x00\x00\x80\x0f\x22\xc0')  # cr0 |= PE | PG
    emit(b'\xea', ('abs16', 'long'), b'\x08\x00')  # jmp 0x08:long
    label('print')
    emit(b'\xac\x84\xc0\x74\x03\xee\xeb\xf8\xc3')  # lodsb; test al,al; jz ret; out dx,al; jmp print; ret
    label('long')  # 64-bit code from here
    emit(b'\x48\xc7\xc7\x00\x00\x10\x00\x48\xc7\xc1', struct.pack('<I', top))  # rdi = 1 MiB; rcx = top
    label('touch')
    emit(b'\x48\x89\x3f\x48\x39\x3f\x75', ('rel8', 'stop'))  # [rdi] = rdi; jne stop unless it reads back
    emit(b'\x48\x81\xc7\x00\x00\x10\x00\x48\x39\xcf\x72', ('rel8', 'touch'))  # next MiB, below top
    emit(b'\x66\xba\xf8\x03\xbe', ('abs32', 'msg2'))  # mov dx,0x3f8; mov esi,msg2
    emit(b'\xac\x84\xc0\x74\x03\xee\xeb\xf8')  # the same print loop, in 64-bit mode
    emit(b'\x66\xba\x04\x06\x66\xb8\x00\x20\x66\xef')  # out 0x604, 0x2000 (q35 PM1a_CNT: S5)
    emit(b'\x66\xba\x04\xb0\x66\xef')  # out 0xb004 (piix4 PM1a_CNT)
    label('stop')
    emit(b'\xf4\xeb\xfd')  # hlt; jmp hlt
    label('gdt')
    emit(b'\0' * 8, b'\x00\x00\x00\x00\x00\x9a\x20\x00')  # null; 64-bit code segment (P, DPL 0, exec/read, L)
    label('gdtr')
    emit(b'\x0f\x00', ('abs32', 'gdt'))
    label('msg1')
    emit(CPU_MARKER + b'\r\n\0')
    label('msg2')
    emit(MARKER + b'\r\n\0')
    out = bytearray()
    for p in parts:
        if isinstance(p, bytes):
            out += p
            continue
        kind, name = p
        if kind == 'abs16':
            out += struct.pack('<H', 0x7c00 + labels[name])
        elif kind == 'abs32':
            out += struct.pack('<I', 0x7c00 + labels[name])
        elif kind == 'rel16':
            out += struct.pack('<h', labels[name] - (len(out) + 2))
        else:
            out += struct.pack('<b', labels[name] - (len(out) + 1))
    assert len(out) <= 510, len(out)
    return bytes(out).ljust(510, b'\0') + b'\x55\xaa'


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
    mem = int(env('PROBE_MEM_MB', '2048'))  # as much as a node has: only the pages touched are used
    work = tempfile.mkdtemp(prefix='fleet-virt-probe-')
    os.chmod(work, 0o755)  # libvirt's QEMU user reads the disk and writes the serial log
    name = f'fleet-virt-probe-{os.getpid()}'
    disk, serial = os.path.join(work, 'probe.img'), os.path.join(work, 'serial.log')
    with open(disk, 'wb') as f:
        f.write(boot_sector(mem).ljust(1 << 20, b'\0'))
    xml = f"""<domain type='{dom_type}'><name>{name}</name><memory unit='MiB'>{mem}</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine={quoteattr(env('MACHINE_TYPE', 'pc'))}>hvm</type><boot dev='network'/><boot dev='hd'/><bios useserial='yes'/></os>
  {cpu_xml(mode, model)}
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file={quoteattr(disk)}/><target dev='hda' bus='ide'/></disk>
    <interface type='user'><model type='virtio'/></interface>
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
        seen = b''
        while time.monotonic() < deadline:
            try:
                with open(serial, 'rb') as f:
                    seen = f.read()
                if MARKER in seen:
                    return True, None
            except OSError:
                pass
            time.sleep(0.2)
        if CPU_MARKER in seen:
            return False, f'the guest ran code but did not reach 64-bit mode with timer interrupts within {timeout} s'
        if b'starting execution' in seen and b'initialising devices' not in seen:
            return False, f'iPXE, the network boot firmware the nodes start with, hung as it started (no progress in {timeout} s)'
        if seen.strip():
            return False, f'the guest\'s firmware started but its boot never reached the probe\'s code within {timeout} s'
        return False, f'the guest started but printed nothing within {timeout} s'
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
    timeout = int(env('PROBE_TIMEOUT', '45'))
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
