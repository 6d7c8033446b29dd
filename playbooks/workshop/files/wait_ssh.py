#!/usr/bin/python3
"""Wait until every node answers SSH on its address, failing fast with what went wrong.

    wait_ssh.py --nodes NAME=ADDRESS,... [--timeout 900] [--boot-timeout 600] [--interval 5]
                [--baremetal BIN] [--console-dir DIR] [--port 22]
                [--stall-timeout 0] [--power-cycles 1]

A node whose port 22 sends no SSH banner within --boot-timeout fails the wait at once, with
Ironic's provision state and last_error (--baremetal) and the last lines of its serial console
(--console-dir): with the ramdisk deploy a node is `active` before it has booted at all, so this
is where a node that never network-booted shows up. Exit 0 when every node answers.

A node that hangs while it boots (seen under emulation and nested virtualisation: the kernel
stops mid-boot and its console stays silent) is power-cycled through Ironic (`baremetal node
reboot`, --baremetal) once its console has not grown for --stall-timeout seconds, at most
--power-cycles times; its boot timeout starts again from the power cycle.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wait_nodes import console_tail  # noqa: E402


def banner(address, port):
    try:
        with socket.create_connection((address, port), timeout=5) as s:
            s.settimeout(5)
            return s.recv(4) == b'SSH-'
    except OSError:
        return False


def ironic_says(bm, name):
    if not bm:
        return ''
    r = subprocess.run([bm, 'node', 'show', name, '-f', 'json'], capture_output=True, text=True)
    if r.returncode != 0:
        return ''
    try:
        n = json.loads(r.stdout)
    except ValueError:
        return ''
    return f" (Ironic: {n.get('provision_state')}, {n.get('power_state') or 'power unknown'}, last_error: {n.get('last_error') or 'none'})"


def console_size(console_dir, name):
    try:
        return os.path.getsize(os.path.join(console_dir, f'{name}_console.log'))
    except (OSError, TypeError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--nodes', required=True)
    ap.add_argument('--timeout', type=float, default=900)
    ap.add_argument('--boot-timeout', type=float, default=600)
    ap.add_argument('--interval', type=float, default=5)
    ap.add_argument('--port', type=int, default=22)
    ap.add_argument('--baremetal')
    ap.add_argument('--console-dir')
    ap.add_argument('--stall-timeout', type=float, default=0)
    ap.add_argument('--power-cycles', type=int, default=1)
    args = ap.parse_args()
    nodes = dict(item.split('=', 1) for item in args.nodes.split(',') if item)
    started = time.monotonic()
    limit = min(args.timeout, args.boot_timeout)
    since = {n: started for n in nodes}  # each node's boot timeout counts from here
    console = {n: (console_size(args.console_dir, n), started) for n in nodes}  # size, when it last grew
    cycles = {n: 0 for n in nodes}
    while True:
        missing = [n for n, a in nodes.items() if not banner(a, args.port)]
        if not missing:
            print('every node answers SSH: ' + ', '.join(f'{n} ({a})' for n, a in nodes.items()), flush=True)
            return 0
        now = time.monotonic()
        for n in missing:
            size = console_size(args.console_dir, n)
            if size != console[n][0]:
                console[n] = (size, now)
            stalled = size is not None and args.stall_timeout > 0 and now - console[n][1] > args.stall_timeout
            if stalled and args.baremetal and cycles[n] < args.power_cycles and now - started < args.timeout:
                cycles[n] += 1
                print(f'{n}: no SSH and no console output for {int(now - console[n][1])}s: it hangs while booting; '
                      f'power-cycling it through Ironic ({cycles[n]}/{args.power_cycles})', flush=True)
                r = subprocess.run([args.baremetal, 'node', 'reboot', n], capture_output=True, text=True)
                if r.returncode != 0:
                    print(f'{n}: the power cycle failed: {(r.stderr or r.stdout).strip()}', file=sys.stderr, flush=True)
                since[n] = now
                console[n] = (size, now)
        late = [n for n in missing if now - since[n] > limit]
        if late or now - started > args.timeout:
            for n in late or missing:
                cycled = f' and {cycles[n]} power cycle{"s" if cycles[n] > 1 else ""}' if cycles[n] else ''
                print(f'{n}: {nodes[n]} does not answer SSH after {int(limit)}s{cycled}{ironic_says(args.baremetal, n)}{console_tail(args.console_dir, n)}', file=sys.stderr)
            return 1
        print('waiting for SSH on ' + ', '.join(missing), flush=True)
        time.sleep(args.interval)


if __name__ == '__main__':
    sys.exit(main())
