#!/usr/bin/env bash
# Installs what fleet, its demo and its tests need on a fresh Debian 12 / Ubuntu
# machine: the Debian packages (only those missing) and the npm packages, then builds dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssh-server + sudo: the local demo/test hosts; bash, procps: the agent's steps and tests;
# libvirt, qemu, dnsmasq, iptables, ipmitool, pyghmi + python3-libvirt (virshbmc): the
# workshop playbook's system test against a real libvirtd; ansible-core + pssh: the peers of
# the benchmarks (bench/, and its smoke test in CI); busybox-static, dropbear-bin, cpio, kmod
# (depmod), zstd (Ubuntu 24.04's .ko.zst modules): the workshop's ramdisk builder
# (playbooks/workshop/files/build_ramdisk.sh) and its system test. The builder fetches the kernel
# package itself at run time with `apt-get download`, which needs apt access (a room has it
# through its mirror); nothing installs a kernel on this machine. ironic-api, ironic-conductor,
# python3-ironicclient: the workshop's `ironic_provider: packages` system test; their services
# are kept from starting during the install (a policy-rc.d, as the playbook's ironic-packages
# step does), so no Ironic with its stock configuration runs here. chromium: the browser that
# `fleet dashboard`'s tests drive (playwright-core, with this Debian build: no browser build is
# downloaded); apt-cacher-ng, nginx, git: the cache playbook's system test (installed here, with
# their services kept from starting, so no test installs packages while others run).
packages=(bash procps sudo openssh-server openssh-client chromium
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base iptables iproute2
  ipmitool python3-pyghmi python3-libvirt
  ansible-core pssh
  busybox-static dropbear-bin cpio kmod zstd
  ironic-api ironic-conductor python3-ironicclient
  apt-cacher-ng nginx git curl e2fsprogs ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  pol=/usr/sbin/policy-rc.d keep=
  if [ -e "$pol" ]; then keep=$(mktemp); cp -a "$pol" "$keep"; fi
  printf '#!/bin/sh\nexit 101\n' > "$pol"; chmod 0755 "$pol"
  trap 'if [ -n "$keep" ]; then mv -f "$keep" "$pol"; else rm -f "$pol"; fi' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-fund --no-audit
fi
npm run --silent build
