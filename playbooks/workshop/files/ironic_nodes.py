#!/usr/bin/python3
"""The nodes of Bifrost's baremetal.json in a standalone Ironic (ironic_provider: packages), by
its `baremetal` client, as Bifrost's enroll and deploy playbooks do.

    ironic_nodes.py enroll FILE     create each node (ipmi, its BMC from driver_info) and its port,
                                    then manage -> provide (cleaning is off: straight to available)
    ironic_nodes.py enrolled FILE   exit 0 when every node exists and is available or further on
    ironic_nodes.py deploy FILE     deploy every node that is available (ramdisk or direct)
    ironic_nodes.py deployed FILE   exit 0 when every node is deploying, waiting or active
    ironic_nodes.py dhcp-hosts FILE OUT
                                    dnsmasq's dhcp-host lines: each node's PXE MAC -> its address
    ironic_nodes.py delete FILE     undeploy and delete every node of FILE that Ironic has

Environment: BAREMETAL (the client), DEPLOY_MODE (ramdisk | direct), and for ramdisk
RAMDISK_KERNEL_URL, RAMDISK_URL; for direct DEPLOY_KERNEL_URL, DEPLOY_RAMDISK_URL, IMAGE_URL,
IMAGE_CHECKSUM (URL or value), SSH_PUBKEY. The BMC password goes to Ironic in a file, never on a
command line (ps shows command lines to every user of the host).
"""
import json
import os
import subprocess
import sys
import time

SETTLED = {'available', 'deploying', 'wait call-back', 'deploy wait', 'active'}
STARTED = {'deploying', 'wait call-back', 'deploy wait', 'active'}


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f'ironic_nodes.py: {name} is not set')
    return value


def bm(*args, check=True):
    r = subprocess.run([env('BAREMETAL'), *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        why = (r.stderr or r.stdout).strip().splitlines()
        sys.exit(f"baremetal {args[0]} {args[1] if len(args) > 1 else ''}: {why[-1] if why else 'failed'}")
    return r


def show(name):
    r = bm('node', 'show', name, '-f', 'json', check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def inventory(path):
    with open(path) as f:
        return json.load(f)


def wait_state(name, wanted, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        node = show(name)
        state = node and node['provision_state']
        if state in wanted:
            return node
        if node and node.get('last_error') and state in ('enroll', 'manageable') and not node.get('target_provision_state'):
            sys.exit(f"{name}: {state}, not {'/'.join(sorted(wanted))}: {node['last_error']}")
        if time.monotonic() > deadline:
            sys.exit(f"{name}: still {state} after {timeout} s (wanted {'/'.join(sorted(wanted))})")
        time.sleep(1)


def settled(name, timeout):
    """Wait until an undeploy is over, however it ended; say how if it failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = show(name)
        state = node['provision_state']
        if state in ('available', 'manageable', 'enroll'):
            return
        if state == 'error' or state.endswith(' failed'):
            print(f"{name}: undeploy ended in {state}: {node.get('last_error') or 'no last_error'}; deleting it anyway", flush=True)
            return
        time.sleep(1)
    print(f'{name}: undeploy still going after {timeout} s; deleting it anyway', flush=True)


def enroll(path):
    inv = inventory(path)
    missing = [name for name in inv if show(name) is None]
    if missing:
        # `baremetal create FILE` (nodes and their ports from one file, mode 0600): the BMC
        # password never stands on a command line, which every user of the host can read.
        spec = {'nodes': [{
            'name': name, 'uuid': inv[name]['uuid'], 'driver': inv[name].get('driver', 'ipmi'),
            'driver_info': inv[name]['driver_info'], 'properties': inv[name].get('properties', {}),
            'boot_interface': 'ipxe', 'deploy_interface': env('DEPLOY_MODE'),
            'ports': [{'address': nic['mac']} for nic in inv[name].get('nics', [])],
        } for name in missing]}
        tmp = f'{path}.create.json'
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, 'w') as f:
                json.dump(spec, f)
            bm('create', tmp)
        finally:
            os.remove(tmp)
    for name, n in inv.items():
        set_deploy(name, n)
        state = show(name)['provision_state']
        if state == 'enroll':
            bm('node', 'manage', name)
            state = wait_state(name, {'manageable'})['provision_state']
        if state == 'manageable':
            bm('node', 'provide', name)
            wait_state(name, SETTLED)
        print(f'{name}: enrolled ({show(name)["provision_state"]})', flush=True)
    return 0


def set_deploy(name, n):
    """What the deploy boots: the jumphost's ramdisk, or IPA and the deploy image (direct)."""
    if env('DEPLOY_MODE') == 'ramdisk':
        mac = n['nics'][0]['mac']
        bm('node', 'set', name, '--instance-info', f"kernel={env('RAMDISK_KERNEL_URL')}", '--instance-info', f"ramdisk={env('RAMDISK_URL')}",
           '--instance-info', f"ramdisk_kernel_arguments=console=ttyS0 BOOTIF=01-{mac.replace(':', '-')}")
    else:
        bm('node', 'set', name, '--driver-info', f"deploy_kernel={env('DEPLOY_KERNEL_URL')}", '--driver-info', f"deploy_ramdisk={env('DEPLOY_RAMDISK_URL')}",
           '--instance-info', f"image_source={env('IMAGE_URL')}", '--instance-info', f"image_checksum={env('IMAGE_CHECKSUM')}")


def all_in(path, states):
    for name in inventory(path):
        node = show(name)
        if not node or node['provision_state'] not in states:
            return 1
    return 0


def deploy(path):
    for name, n in inventory(path).items():
        node = show(name)
        if node and node['provision_state'] in STARTED:
            continue
        set_deploy(name, n)  # an undeploy wipes instance_info: a node deployed again needs it back
        if env('DEPLOY_MODE') == 'direct':
            with open(env('SSH_PUBKEY')) as f:
                key = f.read().strip()
            drive = json.dumps({'meta_data': {'public_keys': {'0': key}, 'hostname': name}})
            bm('node', 'deploy', name, '--config-drive', drive)
        else:
            bm('node', 'deploy', name)
        print(f'{name}: deploy started', flush=True)
    return 0


def dhcp_hosts(path, out):
    lines = [f"dhcp-host={n['nics'][0]['mac']},{n['ipv4_address']},{name}" for name, n in inventory(path).items()]
    tmp = out + '.tmp'
    with open(tmp, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(tmp, out)
    return 0


def delete(path):
    try:
        names = list(inventory(path))
    except OSError:
        return 0
    for name in names:
        node = show(name)
        if node is None:
            continue
        if node['provision_state'] not in ('available', 'enroll', 'manageable', 'error') and not node['provision_state'].endswith(' failed'):
            bm('node', 'undeploy', name, check=False)
            settled(name, timeout=900)
        # In maintenance Ironic deletes a node in any state (one whose undeploy failed, too).
        bm('node', 'maintenance', 'set', name, check=False)
        bm('node', 'delete', name)
        print(f'{name}: deleted', flush=True)
    return 0


if __name__ == '__main__':
    a = sys.argv[1:]
    cmds = {
        'enroll': lambda: enroll(a[1]),
        'enrolled': lambda: all_in(a[1], SETTLED),
        'deploy': lambda: deploy(a[1]),
        'deployed': lambda: all_in(a[1], STARTED),
        'dhcp-hosts': lambda: dhcp_hosts(a[1], a[2]),
        'delete': lambda: delete(a[1]),
    }
    if not a or a[0] not in cmds or len(a) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(cmds[a[0]]())
