#!/usr/bin/python3
"""A virtual BMC for one libvirt domain, with pyghmi's virshbmc, bound to one address.

Debian's and Ubuntu's `virshbmc` (python3-pyghmi) listens on every address ('::') with the
fixed credentials admin/password. On a jumphost with a public address that would let anyone
power the nodes on and off, so the workshop runs it through this wrapper instead, which binds
the BMC to one address (the PXE bridge's, 192.168.122.1 by default) and takes the user and
password from the environment (BMC_USER, BMC_PASSWORD), never from the command line.

It writes its pid file once the UDP port is bound, and stays in the foreground: the
playbook starts it with `setsid -f` so it outlives the step that started it. Unlike plain
virshbmc it keeps its libvirt connection alive (see pump_libvirt_events), and it implements
the boot device (`chassis bootdev`, `chassis bootparam get 5`), which Ironic's ipmi driver
sets before every deploy, by rewriting the domain's persistent boot order as virtualbmc does.
"""
import argparse
import io
import os
import sys
import threading
import xml.etree.ElementTree as ET

# IPMI completion codes (IPMI v2.0 table 5-2; 0x80 is the boot options commands' own).
IPMI_PARAM_NOT_SUPPORTED = 0x80
IPMI_BAD_LENGTH = 0xc7
IPMI_INVALID_DATA = 0xcc
IPMI_NOT_IN_PRESENT_STATE = 0xd5
IPMI_UNSPECIFIED = 0xff

# IPMI boot device names (pyghmi's, plus ipmitool's spellings) -> libvirt <boot dev=...>.
LIBVIRT_BOOT_DEV = {
    'network': 'network', 'pxe': 'network', 'net': 'network',
    'hd': 'hd', 'disk': 'hd',
    'cdrom': 'cdrom', 'optical': 'cdrom', 'cd': 'cdrom', 'dvd': 'cdrom',
}
# libvirt -> the names pyghmi's ipmicommand.boot_devices knows ('default' is "no override").
IPMI_BOOT_DEV = {'network': 'network', 'hd': 'hd', 'cdrom': 'optical'}


def first_boot_device(xml: str):
    """The libvirt device the domain boots from first: 'network', 'hd', 'cdrom' or None."""
    root = ET.fromstring(xml)
    boot = root.find('os/boot')
    if boot is not None:
        return boot.get('dev')
    # No <os><boot>: libvirt then boots by per-device <boot order=N>, lowest first.
    ordered = []
    for dev in root.findall('devices/*'):
        boot = dev.find('boot')
        if boot is None or not boot.get('order', '').isdigit():
            continue
        if dev.tag == 'interface':
            kind = 'network'
        elif dev.tag == 'disk':
            kind = {'disk': 'hd', 'cdrom': 'cdrom'}.get(dev.get('device', 'disk'))  # not floppy, lun
        else:
            kind = None  # hostdev, redirdev: no IPMI name for them
        ordered.append((int(boot.get('order')), kind))
    return min(ordered, key=lambda o: o[0])[1] if ordered else None


def is_uefi(xml: str) -> bool:
    os_el = ET.fromstring(xml).find('os')
    if os_el is None:
        return False
    loader = os_el.find('loader')
    return os_el.get('firmware') == 'efi' or (loader is not None and loader.get('type') == 'pflash')


def with_boot_device(xml: str, dev: str) -> str:
    """The domain XML booting from `dev` only, as virtualbmc writes it: one <os><boot dev=...>,
    and no per-device <boot order=...> (libvirt refuses the two together)."""
    # Keep the document's namespace prefixes (metadata, qemu:commandline): ElementTree would
    # write them back as ns0:, ns1: otherwise.
    for _, (prefix, uri) in ET.iterparse(io.StringIO(xml), events=('start-ns',)):
        try:
            ET.register_namespace(prefix, uri)
        except ValueError:
            pass
    root = ET.fromstring(xml)
    for dev_el in root.findall('devices/*'):
        for boot in dev_el.findall('boot'):
            dev_el.remove(boot)
    os_el = root.find('os')
    if os_el is None:
        raise ValueError('the domain XML has no <os> element')
    boots = os_el.findall('boot')
    # In place of the first old <boot> (libvirt puts it back in its own order anyway).
    at = list(os_el).index(boots[0]) if boots else len(os_el)
    for boot in boots:
        os_el.remove(boot)
    new = ET.Element('boot', {'dev': dev})
    new.tail = boots[0].tail if boots else None
    os_el.insert(at, new)
    return ET.tostring(root, encoding='unicode')


def boot_device_bmc(libvirt, virshbmc, ipmicommand):
    """virshbmc's LibvirtBmc with the boot device. A factory: main() imports the modules only
    after close_inherited_fds."""

    class BootDeviceBmc(virshbmc.LibvirtBmc):
        def persistent_xml(self) -> str:
            # SECURE: redefining from XML without it would drop the domain's VNC/SPICE passwords.
            return self.domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)

        # Idempotent power control, as virtualbmc and real BMCs have it: virshbmc answers 0xd5
        # ("not valid in this state") to power off when off and power on when on. ipmitool
        # resends a command whose answer is late (a destroy under load takes seconds), the
        # resent one then meets the new state, and Ironic's undeploy failed with "IPMI call
        # failed: power off" here.
        def power_off(self):
            if self.domain.isActive():
                self.domain.destroy()
            return 0

        def power_on(self):
            if not self.domain.isActive():
                self.domain.create()
            return 0

        def get_boot_device(self):
            """The first persistent boot device, as pyghmi names it ('default' when none or unknown)."""
            return IPMI_BOOT_DEV.get(first_boot_device(self.persistent_xml()), 'default')

        def set_boot_device(self, bootdevice, persist=True, uefiboot=None):
            """Boot from `bootdevice` at the next power on: 0 or an IPMI completion code.

            Always the persistent definition, whatever `persist` says: libvirt has no one-shot
            boot override (virtualbmc does the same), and a running domain keeps the order it started with.
            `uefiboot` is accepted and ignored: the firmware is chosen when the domain is defined,
            and Ironic's UEFI form of this command must not fail."""
            if bootdevice == 'default':
                return 0  # "no override": the domain's own boot order stays
            dev = LIBVIRT_BOOT_DEV.get(bootdevice)
            if dev is None:
                return IPMI_INVALID_DATA
            try:
                self.conn.defineXML(with_boot_device(self.persistent_xml(), dev))
            except (libvirt.libvirtError, ValueError) as e:
                print(f'setting the boot device of {self.name} to {dev} failed: {e}', file=sys.stderr, flush=True)
                return IPMI_NOT_IN_PRESENT_STATE
            print(f'boot device of {self.name}: {dev} from the next power on (asked: {bootdevice}, persistent={persist}, uefi={uefiboot})', flush=True)
            return 0

        # pyghmi 1.5.34's Bmc.get_system_boot_options answers [1, 5, 0, ...] when
        # get_boot_device raises NotImplementedError, then falls through to the unbound
        # `bootdevice` (UnboundLocalError): handle_raw_request prints the traceback and sends a
        # second, 0xff answer. It also always says "next boot only" and never EFI. Replaced.
        def get_system_boot_options(self, request, session):
            if request['data'][0] != 5:  # only the boot flags
                return session.send_ipmi_response(code=IPMI_PARAM_NOT_SUPPORTED)
            try:
                xml = self.persistent_xml()
                bootdevice = self.get_boot_device()
            except libvirt.libvirtError as e:
                print(f'reading the boot device of {self.name} failed: {e}', file=sys.stderr, flush=True)
                return session.send_ipmi_response(code=IPMI_UNSPECIFIED)
            if not isinstance(bootdevice, int):
                bootdevice = ipmicommand.boot_devices.get(bootdevice, 0)
            # Valid, persistent (it is the domain's definition), EFI if its firmware is.
            flags = 0b11000000 | (0b00100000 if is_uefi(xml) else 0)
            session.send_ipmi_response(data=[1, 5, flags, bootdevice, 0, 0, 0])

        # pyghmi's Bmc.set_system_boot_options drops set_boot_device's return code (an unknown
        # device was answered "success") and passes neither the persistent nor the EFI bit;
        # other parameters raise NotImplementedError ("invalid command"). Replaced.
        def set_system_boot_options(self, request, session):
            data = request['data']
            if data[0] in (0, 3, 4):
                # Set-in-progress, boot flag timeout (Ironic's `raw 0x00 0x08 0x03 0x08`), boot
                # info acknowledge: nothing to keep, as pyghmi's base class.
                return session.send_ipmi_response()
            if data[0] != 5:
                return session.send_ipmi_response(code=IPMI_PARAM_NOT_SUPPORTED)
            if len(data) < 3:
                return session.send_ipmi_response(code=IPMI_BAD_LENGTH)
            if not data[1] & 0b10000000:
                return session.send_ipmi_response()  # flags marked invalid: nothing asked
            bootdevice = ipmicommand.boot_devices.get((data[2] >> 2) & 0b1111)
            if not isinstance(bootdevice, str):
                return session.send_ipmi_response(code=IPMI_INVALID_DATA)
            rc = self.set_boot_device(bootdevice, persist=bool(data[1] & 0b01000000), uefiboot=bool(data[1] & 0b00100000))
            session.send_ipmi_response(code=rc or 0)

    return BootDeviceBmc


def close_inherited_fds() -> None:
    """A daemon keeps no descriptor of whoever started it (the agent's pipes, for one)."""
    for name in os.listdir('/proc/self/fd'):
        if int(name) > 2:
            try:
                os.close(int(name))
            except OSError:
                pass


def main() -> int:
    close_inherited_fds()
    import libvirt
    from pyghmi.cmd import virshbmc
    from pyghmi.ipmi import command as ipmicommand
    from pyghmi.ipmi.private import serversession

    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--address', required=True, help='address to bind (UDP)')
    parser.add_argument('--port', type=int, required=True, help='UDP port, e.g. 625')
    parser.add_argument('--domain', required=True, help='libvirt domain name')
    parser.add_argument('--uri', default='qemu:///system', help='libvirt URI')
    parser.add_argument('--pid-file', required=True)
    args = parser.parse_args()
    user = os.environ.get('BMC_USER', 'admin')
    password = os.environ.get('BMC_PASSWORD')
    if not password:
        print('virshbmc_bound: BMC_PASSWORD is not set in the environment', file=sys.stderr)
        return 2

    original_init = serversession.IpmiServer.__init__

    def bound_init(self, authdata, port=623, bmcuuid=None, address='::'):
        original_init(self, authdata, port, bmcuuid, args.address)

    serversession.IpmiServer.__init__ = bound_init

    libvirt.virEventRegisterDefaultImpl()
    libvirt.registerErrorHandler(virshbmc.error_handler, None)
    bmc = boot_device_bmc(libvirt, virshbmc, ipmicommand)({user: password}, hypervisor=args.uri, domain=args.domain, port=args.port)
    # virshbmc registers libvirt's event loop but never runs it (only for serial-over-LAN), so
    # the connection never answers libvirtd's keepalive pings and libvirtd drops it after a
    # minute or two idle: every IPMI command then fails with "Unspecified error". Run the loop.
    def pump_libvirt_events():
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=pump_libvirt_events, name='libvirt-events', daemon=True).start()
    tmp = f'{args.pid_file}.tmp'
    with open(tmp, 'w') as f:
        f.write(f'{os.getpid()}\n')
    os.replace(tmp, args.pid_file)
    print(f'virshbmc for {args.domain} listening on {args.address} UDP {args.port} (pid {os.getpid()})', flush=True)
    bmc.listen()
    return 0


if __name__ == '__main__':
    sys.exit(main())
