#!/usr/bin/python3
"""Bifrost's baremetal.json from live values, and its verification against libvirt and the BMCs.

    inventory.py write FILE [--nics FILE]   write the inventory (mode 0600: it holds the BMC password)
    inventory.py verify FILE [--bmc]        exit 0 when FILE matches the live domains (and BMCs)

Everything comes from the environment, which the playbook sets from its vars (values never
pass through a shell line): NODES_JSON (the `nodes` var), LIBVIRT_URI, PXE_NETWORK,
MGMT_NETWORK, EXT_NETWORK, BMC_ADDRESS, BMC_USER, BMC_PASSWORD.

The MAC of each node's PXE NIC is read from `virsh domiflist` (the row whose source is the
PXE network), never typed by hand: the guide's "do not forget to add MAC addresses" is gone.
"""
import json
import os
import subprocess
import sys


def env(name):
    value = os.environ.get(name)
    if value is None or value == '':
        sys.exit(f'inventory.py: {name} is not set in the environment')
    return value


def virsh(*args):
    r = subprocess.run(['virsh', '-q', '-c', env('LIBVIRT_URI'), *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise LookupError((r.stderr or r.stdout).strip().splitlines()[-1] if (r.stderr or r.stdout).strip() else f'virsh {" ".join(args)} failed')
    return r.stdout


def nics_of(domain):
    """{network: mac} from `virsh domiflist` (Interface Type Source Model MAC)."""
    out = {}
    for line in virsh('domiflist', domain).splitlines():
        cols = line.split()
        if len(cols) >= 5 and cols[1] == 'network':
            out.setdefault(cols[2], cols[4].lower())
    return out


def expected(node, pxe_mac):
    return {
        'name': node['name'],
        'uuid': node['uuid'],
        'driver': 'ipmi',
        'driver_info': {
            'ipmi_address': env('BMC_ADDRESS'),
            'ipmi_port': str(node['bmc_port']),
            'ipmi_username': env('BMC_USER'),
            'ipmi_password': env('BMC_PASSWORD'),
        },
        'nics': [{'mac': pxe_mac}],
        'ansible_ssh_host': node['pxe_address'],
        'ipv4_address': node['pxe_address'],
        'host_groups': ['baremetal'],
        'properties': {
            'cpu_arch': 'x86_64',
            'cpus': str(node['vcpus']),
            'disk_size': str(node['disk_gb']),
            'ram': str(node['ram_mb']),
        },
    }


def live():
    nodes = json.loads(env('NODES_JSON'))
    pxe = env('PXE_NETWORK')
    inventory, all_nics, problems = {}, {}, []
    for node in nodes:
        name = node['name']
        try:
            nics = nics_of(name)
        except LookupError as e:
            problems.append(f'{name}: cannot read its NICs from libvirt ({e}); run the infra phase first.')
            continue
        if pxe not in nics:
            problems.append(f'{name}: has no NIC on the {pxe} network (virsh domiflist {name}); fix the domain definition.')
            continue
        inventory[name] = expected(node, nics[pxe])
        all_nics[name] = {net: nics.get(env(var)) for net, var in (('pxe', 'PXE_NETWORK'), ('mgmt', 'MGMT_NETWORK'), ('ext', 'EXT_NETWORK'))}
    return inventory, all_nics, problems


def bmc_problems(inventory):
    problems = []
    for name, host in inventory.items():
        info = host['driver_info']
        cmd = ['ipmitool', '-I', 'lanplus', '-H', info['ipmi_address'], '-p', info['ipmi_port'], '-U', info['ipmi_username'], '-E', '-N', '3', '-R', '2', 'power', 'status']
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'IPMI_PASSWORD': info['ipmi_password']})
        answer = r.stdout.strip()
        if r.returncode != 0 or not answer.startswith('Chassis Power is '):
            detail = (r.stderr or r.stdout).strip().splitlines()
            problems.append(f'{name}: its BMC at {info["ipmi_address"]} UDP {info["ipmi_port"]} does not answer "power status" ({detail[-1] if detail else "no answer"}); check the bmc phase.')
            continue
        bmc_on = answer.endswith(' on')
        virsh_on = virsh('domstate', name).strip() == 'running'
        if bmc_on != virsh_on:
            problems.append(f'{name}: its BMC on port {info["ipmi_port"]} says power {"on" if bmc_on else "off"} but libvirt says {"running" if virsh_on else "not running"}: that BMC drives another domain.')
    return problems


def write(path, nics_path):
    inventory, all_nics, problems = live()
    if problems:
        print('\n'.join(problems), file=sys.stderr)
        return 1
    tmp = f'{path}.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(inventory, f, indent=4, sort_keys=True)
        f.write('\n')
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    if nics_path:
        with open(nics_path, 'w') as f:
            json.dump({'workshop_nics': all_nics}, f, indent=2, sort_keys=True)
            f.write('\n')
    for name, host in inventory.items():
        print(f'{name}: pxe NIC {host["nics"][0]["mac"]}, BMC {host["driver_info"]["ipmi_address"]}:{host["driver_info"]["ipmi_port"]}, address {host["ipv4_address"]}')
    print(f'wrote {path}')
    return 0


def verify(path, with_bmc):
    try:
        with open(path) as f:
            written = json.load(f)
    except (OSError, ValueError) as e:
        print(f'{path}: cannot be read as JSON ({e}).', file=sys.stderr)
        return 1
    inventory, _, problems = live()
    for name, host in inventory.items():
        have = written.get(name)
        if have is None:
            problems.append(f'{path}: has no entry for {name}.')
        elif have != host:
            fields = sorted(k for k in set(host) | set(have) if host.get(k) != have.get(k))
            problems.append(f'{path}: {name} differs from the live values in {", ".join(fields)}.')
    extra = sorted(set(written) - set(inventory))
    if extra:
        problems.append(f'{path}: has nodes that are not in the playbook: {", ".join(extra)}.')
    if not problems and with_bmc:
        problems = bmc_problems(inventory)
    if problems:
        print('\n'.join(problems), file=sys.stderr)
        return 1
    print(f'{path} matches libvirt{" and the BMCs" if with_bmc else ""} for {", ".join(inventory)}')
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == 'write':
        nics = argv[argv.index('--nics') + 1] if '--nics' in argv else None
        return write(argv[1], nics)
    if len(argv) >= 2 and argv[0] == 'verify':
        return verify(argv[1], '--bmc' in argv)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
