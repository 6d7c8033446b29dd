#!/usr/bin/python3
"""Wait until every node answers SSH on its address, failing fast with what went wrong.

    wait_ssh.py --nodes NAME=ADDRESS,... [--timeout 900] [--boot-timeout 600] [--interval 5]
                [--baremetal BIN] [--console-dir DIR] [--port 22]

A node whose port 22 sends no SSH banner within --boot-timeout fails the wait at once, with
Ironic's provision state and last_error (--baremetal) and the last lines of its serial console
(--console-dir): with the ramdisk deploy a node is `active` before it has booted at all, so this
is where a node that never network-booted shows up. Exit 0 when every node answers.
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
    n = json.loads(r.stdout)
    return f" (Ironic: {n.get('provision_state')}, {n.get('power_state') or 'power unknown'}, last_error: {n.get('last_error') or 'none'})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--nodes', required=True)
    ap.add_argument('--timeout', type=float, default=900)
    ap.add_argument('--boot-timeout', type=float, default=600)
    ap.add_argument('--interval', type=float, default=5)
    ap.add_argument('--port', type=int, default=22)
    ap.add_argument('--baremetal')
    ap.add_argument('--console-dir')
    args = ap.parse_args()
    nodes = dict(item.split('=', 1) for item in args.nodes.split(',') if item)
    started = time.monotonic()
    limit = min(args.timeout, args.boot_timeout)
    while True:
        missing = [n for n, a in nodes.items() if not banner(a, args.port)]
        if not missing:
            print('every node answers SSH: ' + ', '.join(f'{n} ({a})' for n, a in nodes.items()), flush=True)
            return 0
        if time.monotonic() - started > limit:
            for n in missing:
                print(f'{n}: {nodes[n]} does not answer SSH after {int(limit)}s{ironic_says(args.baremetal, n)}{console_tail(args.console_dir, n)}', file=sys.stderr)
            return 1
        print('waiting for SSH on ' + ', '.join(missing), flush=True)
        time.sleep(args.interval)


if __name__ == '__main__':
    sys.exit(main())
