#!/usr/bin/python3
"""Wait until every node reaches a provision state in Ironic, failing fast with the node's last_error.

    wait_nodes.py --baremetal BIN --nodes controller00,compute00 [--target active]
                  [--timeout 3600] [--callback-timeout 1800] [--interval 10]
                  [--list-file FILE] [--console-dir DIR] [--once]

Fails at once when a node is in `deploy failed`, `clean failed`, `error` (or another
`... failed` state) or in maintenance, and when a node stays in `wait call-back` longer than
--callback-timeout (the deploy ramdisk never called back: the node did not PXE boot). Each
poll rewrites --list-file with `baremetal node list`, for `fleet collect-logs`. With
--console-dir, a failing node's message ends with the last lines of its serial console log
(DIR/NAME_console.log: SeaBIOS, iPXE, the ramdisk), which say how far it got.
--once looks once: exit 0 when every node is already there (a step's check).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time


def console_tail(console_dir, name, lines=5):
    """The last lines of a node's serial console, terminal escapes removed, as one clause."""
    if not console_dir:
        return ''
    path = os.path.join(console_dir, f'{name}_console.log')
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode('utf-8', 'replace')
    except OSError:
        return f' (no console log at {path}: the node never powered on)'
    text = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b.|\r', '', text)
    last = [l.strip() for l in text.split('\n') if l.strip()][-lines:]
    return f'; its console log ({path}) ends with: ' + ' | '.join(last) if last else f'; its console log ({path}) is empty: the node never reached its BIOS'


def show(bm, name):
    r = subprocess.run([bm, 'node', 'show', name, '-f', 'json'], capture_output=True, text=True)
    if r.returncode != 0:
        return {'provision_state': None, 'error': (r.stderr or r.stdout).strip().splitlines()[-1:] or ['not found']}
    return json.loads(r.stdout)


def write_list(bm, path):
    if not path:
        return
    r = subprocess.run([bm, 'node', 'list'], capture_output=True, text=True)
    with open(path, 'w') as f:
        f.write(time.strftime('%Y-%m-%dT%H:%M:%S%z') + '\n' + (r.stdout or r.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--baremetal', required=True)
    ap.add_argument('--nodes', required=True)
    ap.add_argument('--target', default='active')
    ap.add_argument('--timeout', type=float, default=3600)
    ap.add_argument('--callback-timeout', type=float, default=1800)
    ap.add_argument('--interval', type=float, default=10)
    ap.add_argument('--list-file')
    ap.add_argument('--console-dir')
    ap.add_argument('--once', action='store_true')
    args = ap.parse_args()
    names = [n for n in args.nodes.split(',') if n]
    deadline = time.monotonic() + args.timeout
    waiting_since = {}
    while True:
        states = {n: show(args.baremetal, n) for n in names}
        write_list(args.baremetal, args.list_file)
        problems = []
        for name, s in states.items():
            state = s.get('provision_state')
            why = s.get('last_error') or s.get('maintenance_reason') or 'no last_error recorded'
            if state is None:
                problems.append(f'{name}: not known to Ironic ({s["error"][0] if s.get("error") else "not found"}); run the enroll step first.')
            elif s.get('maintenance'):
                problems.append(f'{name}: in maintenance mode (provision state {state!r}): {why}')
            elif state == 'error' or state.endswith(' failed'):
                problems.append(f'{name}: provision state {state!r}: {why}')
            elif state == 'wait call-back' and args.target != 'wait call-back':
                since = waiting_since.setdefault(name, time.monotonic())
                if time.monotonic() - since > args.callback_timeout:
                    problems.append(f'{name}: still in \'wait call-back\' after {int(args.callback_timeout)}s: the deploy ramdisk never called back (did the node PXE boot? look at its console log and at DHCP on the PXE bridge).')
            else:
                waiting_since.pop(name, None)
        done = all(s.get('provision_state') == args.target and not s.get('maintenance') for s in states.values())
        summary = ', '.join(f'{n}: {s.get("provision_state")}' for n, s in states.items())
        if done:
            print(f'all nodes {args.target}: {summary}', flush=True)
            return 0
        if args.once:
            print(f'not all nodes {args.target}: {summary}', file=sys.stderr)
            return 1
        if problems:
            for p in problems:
                print(p + console_tail(args.console_dir, p.split(':', 1)[0]), file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f'not all nodes reached {args.target!r} within {int(args.timeout)}s: {summary}', file=sys.stderr)
            return 1
        print(summary, flush=True)
        time.sleep(args.interval)


if __name__ == '__main__':
    sys.exit(main())
