#!/usr/bin/python3
"""A virtual BMC for one libvirt domain, with pyghmi's virshbmc, bound to one address.

Debian's and Ubuntu's `virshbmc` (python3-pyghmi) listens on every address ('::') with the
fixed credentials admin/password. On a jumphost with a public address that would let anyone
power the nodes on and off, so the workshop runs it through this wrapper instead, which binds
the BMC to one address (the PXE bridge's, 192.168.122.1 by default) and takes the user and
password from the environment (BMC_USER, BMC_PASSWORD), never from the command line.

It writes its pid file once the UDP port is bound, and stays in the foreground: the
playbook starts it with `setsid -f` so it outlives the step that started it. Unlike plain
virshbmc it keeps its libvirt connection alive (see pump_libvirt_events).
"""
import argparse
import os
import sys
import threading


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
    bmc = virshbmc.LibvirtBmc({user: password}, hypervisor=args.uri, domain=args.domain, port=args.port)
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
