#!/usr/bin/python3
"""Read-only preflight checks of the workshop playbook. Each prints one sentence per problem
(what is wrong and what to fix) on stderr and exits 1, or exits 0 silently when all is well.

    preflight.py subnets    NETWORKS_JSON: [{role, name, address, prefix, bridge}]
    preflight.py ports      UDP_PORTS_JSON, TCP_PORTS_JSON (optional): [{port, what}], WORK_DIR
    preflight.py urls       URLS_JSON: [url, ...]
    preflight.py addresses  NETWORKS_JSON, NODES_JSON, BMC_ADDRESS, DHCP_POOL_START, DHCP_POOL_END

Inputs come from the environment, set by the playbook from its vars.
"""
import glob
import ipaddress
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request


def env_json(name):
    return json.loads(os.environ[name])


def libvirt_default_bridge():
    try:
        with open('/etc/libvirt/qemu/networks/default.xml') as f:
            m = re.search(r"<bridge\s+name=['\"]([^'\"]+)['\"]", f.read())
            return m.group(1) if m else None
    except OSError:
        return None


def subnets():
    problems = []
    default_bridge = libvirt_default_bridge()
    r = subprocess.run(['ip', '-j', '-4', 'route', 'show', 'table', 'all'], capture_output=True, text=True, check=True)
    routes = json.loads(r.stdout or '[]')
    for net in env_json('NETWORKS_JSON'):
        mine = ipaddress.ip_network(f"{net['address']}/{net['prefix']}", strict=False)
        allowed = {net['bridge']}
        if default_bridge:
            allowed.add(default_bridge)  # libvirt's own `default` network: the host phase removes it
        for route in routes:
            dst = route.get('dst')
            if not dst or dst == 'default':
                continue
            try:
                theirs = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                continue
            if theirs.prefixlen == 0 or not mine.overlaps(theirs):
                continue
            dev = route.get('dev', '?')
            if dev in allowed:
                continue
            problems.append(
                f"{mine} (the {net['name']} network) is already in use on this host: route {dst} via device {dev}; "
                f"remove that network or interface, or give the {net['name']} network other addresses in the vars.")
            break
    return problems


def pid_of(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def cmdline(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        return ''


def ports():
    work_dir = os.environ['WORK_DIR']
    our_bmcs = {pid_of(p) for p in glob.glob(os.path.join(work_dir, 'bmc', '*.pid'))} - {0}
    bifrost_installed = os.path.exists(os.path.join(work_dir, 'bifrost-installed'))
    problems = []
    for proto, var in (('udp', 'UDP_PORTS_JSON'), ('tcp', 'TCP_PORTS_JSON')):
        if var not in os.environ:
            continue
        wanted = {int(p['port']): p['what'] for p in env_json(var)}
        r = subprocess.run(['ss', '-H', '-u' if proto == 'udp' else '-t', '-a' if proto == 'udp' else '-l', '-n', '-p'], capture_output=True, text=True, check=True)
        seen = set()
        for line in r.stdout.splitlines():
            cols = line.split()
            if len(cols) < 5:
                continue
            port = cols[3].rsplit(':', 1)[-1]
            if not port.isdigit() or int(port) not in wanted:
                continue
            users = re.findall(r'\("([^"]+)",pid=(\d+)', line)
            ok = bool(users)
            for name, pid in users:
                cmd = cmdline(int(pid))
                if name == 'dnsmasq' and '/var/lib/libvirt/dnsmasq/' in cmd:
                    continue  # a libvirt network's own dnsmasq (mgmt, ext, or `default` until the host phase removes it)
                if int(pid) in our_bmcs or 'vbmcd' in cmd or 'virshbmc_bound.py' in cmd:
                    continue  # this playbook's own BMCs (a second run)
                if work_dir in cmd:
                    continue  # this playbook's own Ironic, dnsmasq or boot-file server (ironic_provider packages)
                if bifrost_installed and name in ('dnsmasq', 'in.tftpd', 'ironic', 'ironic-conductor', 'nginx'):
                    continue  # Bifrost's own DHCP/TFTP/API/HTTP, installed by this playbook
                ok = False
            if ok:
                continue
            p = int(port)
            if p in seen:
                continue
            seen.add(p)
            owner = ', '.join(f'{n} (pid {pid})' for n, pid in users) or 'an unknown process (run the preflight as root to see it)'
            problems.append(f'{proto.upper()} port {p} ({wanted[p]}) is already taken by {owner} at {cols[3]}; stop it (for a stray dnsmasq: find its service and stop it) so the workshop can use the port.')
    return problems


def urls():
    problems = []
    for url in env_json('URLS_JSON'):
        req = urllib.request.Request(url, method='HEAD', headers={'User-Agent': 'fleet-workshop-preflight'})
        try:
            with urllib.request.urlopen(req, timeout=20):
                pass
        except urllib.error.HTTPError as e:
            if e.code == 405:  # no HEAD: the URL is there
                continue
            problems.append(f'{url} answers HTTP {e.code}; fix the URL in the vars (or point it at the room\'s mirror).')
        except Exception as e:  # noqa: BLE001 - any failure is the message
            reason = getattr(e, 'reason', e)
            problems.append(f'{url} cannot be reached ({reason}); check the host\'s internet access or point the var at a reachable mirror, or set check_mirrors: false for an offline room.')
    return problems


def addresses():
    problems = []
    networks = env_json('NETWORKS_JSON')
    nets = {n['role']: ipaddress.ip_network(f"{n['address']}/{n['prefix']}", strict=False) for n in networks}
    gateways = {n['role']: ipaddress.ip_address(n['address']) for n in networks}
    names = {n['role']: n['name'] for n in networks}
    pxe = nets['pxe']
    pxe_name = names['pxe']
    start = ipaddress.ip_address(os.environ['DHCP_POOL_START'])
    end = ipaddress.ip_address(os.environ['DHCP_POOL_END'])
    if start not in pxe or end not in pxe or start > end:
        problems.append(f'the DHCP pool {start}-{end} must be an ascending range inside {pxe} (the {pxe_name} network); fix dhcp_pool_start/dhcp_pool_end.')
    bmc = ipaddress.ip_address(os.environ['BMC_ADDRESS'])
    if bmc not in pxe:
        problems.append(f"bmc_address {bmc} is not in {pxe}: the BMCs must be reachable on the {pxe_name} network; use the bridge address {gateways['pxe']}.")
    seen = {}
    for node in env_json('NODES_JSON'):
        for key, net in (('pxe_address', 'pxe'), ('mgmt_address', 'mgmt'), ('ext_address', 'ext')):
            if net not in nets:
                continue
            addr = ipaddress.ip_address(node[key])
            if addr not in nets[net]:
                problems.append(f"{node['name']}: {key} {addr} is not in the {names[net]} network {nets[net]}; fix the node's {key}.")
            if addr == gateways[net]:
                problems.append(f"{node['name']}: {key} {addr} is the host's own bridge address; give the node another address.")
            if key == 'pxe_address' and start <= addr <= end:
                problems.append(f"{node['name']}: {key} {addr} is inside the DHCP pool {start}-{end}; move the pool or the address.")
            if addr in seen:
                problems.append(f"{node['name']}: {key} {addr} is also used by {seen[addr]}; every node needs its own addresses.")
            seen[addr] = f"{node['name']} ({key})"
    ports_seen = {}
    for node in env_json('NODES_JSON'):
        p = int(node['bmc_port'])
        if p in ports_seen:
            problems.append(f"{node['name']}: BMC port {p} is also used by {ports_seen[p]}; every node needs its own port.")
        ports_seen[p] = node['name']
    return problems


CHECKS = {'subnets': subnets, 'ports': ports, 'urls': urls, 'addresses': addresses}

if __name__ == '__main__':
    if len(sys.argv) != 2 or sys.argv[1] not in CHECKS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    found = CHECKS[sys.argv[1]]()
    for p in found:
        print(p, file=sys.stderr)
    sys.exit(1 if found else 0)
