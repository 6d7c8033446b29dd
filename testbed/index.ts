/**
 * The test bed: real hosts on this machine for the integration tests, the benchmarks
 * and `fleet demo`. Not part of the product: nothing under src/ imports it except
 * `fleet demo`, which loads its build (dist/testbed/testbed.mjs) at run time, so the
 * fleet bundle carries none of it.
 *
 * This entry is the local loopback "jumphosts" (local-hosts/): N real OpenSSH
 * servers, one per Unix account.
 * - account `${prefix}001`… (created once, reused; password field `*`), home under
 *   `homeRoot` (wiped and recreated empty at every start), passwordless sudo through
 *   one file in /etc/sudoers.d per set;
 * - address 127.B.X.Y port `port` (default 2022): B = 77 + slot (one slot per set
 *   running at the same time on this machine), X.Y = host index (254 per X), so a
 *   set scales to 65,024 hosts and every host has the same port; or, with `netns`,
 *   the caller's addresses inside a network namespace of its own (bench/wan.ts);
 * - per host directory under `baseDir`: sshd_config, ed25519 host key, pid file, log;
 * - one client key pair for the whole set (or one per host), in `baseDir/client/`.
 *
 * Every sshd is our child, run with `-D -e -f CONFIG`; we only ever signal those pids
 * (and their sshd descendants, the per-connection processes). A small state file per
 * set in /run/fleet-localhosts lets a later start clean up after a crashed one.
 *
 * Beside it, imported by their paths: machine/ (the process table, Unix accounts, SSH
 * keys), ssm-endpoint.ts (a local AWS Systems Manager endpoint whose instances are local
 * accounts) and libvirt/ (libvirtd, virtual BMCs and /dev/kvm for the system tests).
 */
export {startLocalHosts} from './local-hosts/start.js'
export {localHostAddress, MAX_HOSTS} from './local-hosts/addresses.js'
export type {LocalHost, LocalHostSet, LocalHostsOptions} from './local-hosts/types.js'
export {deleteAccounts as deleteLocalHostAccounts} from './machine/users.js'
export {generateEd25519} from './machine/keys.js'
