#!/usr/bin/env bash
# build_ramdisk.sh: a tiny SSH-able ramdisk (kernel + initramfs) for the workshop's nodes,
# built on the jumphost from the distribution's own packages, for Ironic's `ramdisk` deploy.
#
# Run as root on a Debian 12 or Ubuntu 22.04/24.04 jumphost. Environment:
#   OUT_DIR     where `kernel` and `initramfs` are written (each atomically, by rename)
#   SSH_PUBKEY  public key file (authorized_keys format) that may log in as root
#   WORK_DIR    scratch: the downloaded kernel package and its unpacked tree are kept here
#               (~500 MB for Debian's kernel) so a rebuild with another key does not fetch again
# Optional:
#   KERNEL_PACKAGE   a versioned linux-image package to use instead of the distribution's default
#   RAMDISK_MODULES  modules to load, default "virtio_pci virtio_net virtio_blk virtio_rng"
#                    (their dependencies, e.g. net_failover and failover, are added from modules.dep)
#
# Needs, from the distribution: busybox-static, dropbear-bin, cpio, gzip, dpkg, apt, libc-bin
# (ldd), util-linux (flock), and kmod's depmod (falls back to busybox's depmod, which cannot read
# compressed modules); xz-utils / zstd when the kernel's modules are .ko.xz / .ko.zst (Ubuntu
# 24.04). The kernel is NOT installed on this host and /boot is not used: its package is fetched
# with `apt-get download` (this needs apt access: a workshop room has it through its mirror) and
# unpacked with `dpkg-deb -x` into WORK_DIR.
#   Debian: linux-image-<arch> (e.g. linux-image-amd64) -> its dependency linux-image-6.x-<arch>,
#           which holds both vmlinuz and the modules. Tested on Debian 12.
#   Ubuntu: linux-image-virtual (else linux-image-generic) -> linux-image-<ver>-generic (vmlinuz)
#           + its dependency linux-modules-<ver>-generic (the modules; on Ubuntu several virtio
#           drivers are built in, which modules.builtin tells). Written from the packages'
#           documented layout, NOT tested here.
#
# The ramdisk: busybox-static as /bin/sh and every tool, dropbear + dropbearkey and the libraries
# ldd lists, the virtio modules (decompressed at build time, loaded with insmod in dependency
# order computed here from modules.dep, so no kmod is needed inside). Its /init mounts
# proc/sys/dev, loads the modules, picks the NIC named by BOOTIF=01-aa-bb-.. on the kernel command
# line (Ironic's ramdisk iPXE template passes none: give it in ramdisk_kernel_arguments), else the
# first non-lo NIC, configures it from `ip=ADDR::GW:MASK[:HOST:DEV]` if given, else by DHCP
# (udhcpc), generates an ed25519 host key, starts dropbear on port 22 (keys only), prints
# `fleet-ramdisk: ready <ip>` on the console and hands over to busybox init, which keeps a shell
# on the console and reaps orphans. Entropy: dropbearkey blocks until the kernel's RNG is ready;
# the virtio_rng module (with a virtio-rng device in the domain) makes that immediate, without
# it the kernel's jitter entropy takes a few seconds of guest time.
#
# Idempotent: a stamp in OUT_DIR holds a hash of every input (this script, the key, the kernel
# package and version, the binaries and libraries copied, the module list); when it matches and
# the outputs are intact, nothing is rebuilt and the script exits 0.
set -euo pipefail
umask 022
export LC_ALL=C
SELF=$(readlink -f "${BASH_SOURCE[0]}")

log() { echo "build_ramdisk: $*" >&2; }
die() { log "error: $*"; exit 1; }

: "${OUT_DIR:?OUT_DIR must name the output directory}"
: "${SSH_PUBKEY:?SSH_PUBKEY must name the public key file that may log in as root}"
: "${WORK_DIR:?WORK_DIR must name a scratch directory}"
MODULES_WANTED=${RAMDISK_MODULES:-virtio_pci virtio_net virtio_blk virtio_rng}

[ "$(id -u)" = 0 ] || die "run as root (the kernel package is unpacked with its owners and modes)"
[ -r "$SSH_PUBKEY" ] || die "SSH_PUBKEY=$SSH_PUBKEY is not a readable file"
grep -Eq '^(ssh-|ecdsa-|sk-)[^ ]+ [A-Za-z0-9+/=]+' "$SSH_PUBKEY" ||
  die "SSH_PUBKEY=$SSH_PUBKEY does not look like an OpenSSH public key"

# binary -> Debian/Ubuntu package to install
need() {
  local bin=$1 pkg=$2 p
  p=$(PATH="$PATH:/usr/sbin:/sbin" command -v "$bin" 2>/dev/null) || die "$bin not found: install it with: apt-get install $pkg"
  printf '%s\n' "$p"
}
BUSYBOX=$(need busybox busybox-static)
DROPBEAR=$(need dropbear dropbear-bin)
DROPBEARKEY=$(need dropbearkey dropbear-bin)
need cpio cpio >/dev/null
need gzip gzip >/dev/null
need ldd libc-bin >/dev/null
need flock util-linux >/dev/null
need dpkg-deb dpkg >/dev/null
need apt-get apt >/dev/null
need apt-cache apt >/dev/null
need sha256sum coreutils >/dev/null
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked: install the static one with: apt-get install busybox-static"
fi
DEPMOD=$(PATH="$PATH:/usr/sbin:/sbin" command -v depmod 2>/dev/null || true)

mkdir -p "$OUT_DIR" "$WORK_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK_DIR=$(cd "$WORK_DIR" && pwd)
# One build at a time per WORK_DIR (the kernel cache and the staging tree live there).
exec 9>"$WORK_DIR/.lock"
flock 9

# --- which kernel package ------------------------------------------------------------------------
pkg_version() { apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n1; }
# First versioned dependency of a package matching a pattern, e.g. linux-image-6.1.0-57-amd64.
pkg_dep() { apt-cache depends "$1" 2>/dev/null | sed -n "s/^ *Depends: \\($2\\)\$/\\1/p" | head -n1; }

resolve_kernel() {
  local arch meta dep
  if [ -n "${KERNEL_PACKAGE:-}" ]; then
    KPKG=$KERNEL_PACKAGE
  else
    arch=$(dpkg --print-architecture)
    KPKG=
    # Debian: linux-image-amd64; Ubuntu: linux-image-virtual (fewest extras), linux-image-generic.
    for meta in "linux-image-$arch" linux-image-virtual linux-image-generic; do
      dep=$(pkg_dep "$meta" 'linux-image-[0-9][^ <>]*')
      if [ -n "$dep" ]; then KPKG=$dep; KMETA=$meta; break; fi
    done
  fi
  [ -n "$KPKG" ] && KVERSION=$(pkg_version "$KPKG") && [ -n "$KVERSION" ]
}
KMETA=${KERNEL_PACKAGE:+KERNEL_PACKAGE}
if ! resolve_kernel; then
  log "no kernel package known to apt yet: running apt-get update once"
  export BUILD_RAMDISK_APT_UPDATED=1
  apt-get update -qq || die "apt-get update failed: the kernel package is fetched with apt-get download and needs apt access"
  resolve_kernel || die "cannot find a kernel package (tried linux-image-$(dpkg --print-architecture), linux-image-virtual, linux-image-generic${KERNEL_PACKAGE:+, $KERNEL_PACKAGE})"
fi
# Ubuntu splits the modules out of the image package.
KMODPKG=$(pkg_dep "$KPKG" 'linux-modules-[0-9][^ <>]*')
KMODVERSION=
if [ -n "$KMODPKG" ]; then KMODVERSION=$(pkg_version "$KMODPKG"); fi

# --- the libraries dropbear needs ----------------------------------------------------------------
libs_of() { ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'; }
mapfile -t LIBS < <({ libs_of "$DROPBEAR"; libs_of "$DROPBEARKEY"; } | sort -u)
((${#LIBS[@]})) || die "ldd found no libraries for $DROPBEAR"

# --- the stamp: everything the output depends on -------------------------------------------------
pkgver() { dpkg-query -W -f='${Package}=${Version}' "$1" 2>/dev/null || echo "$1=?"; }
INPUTS=$({
  echo "script $(sha256sum <"$SELF")"
  echo "pubkey $(sha256sum <"$SSH_PUBKEY")"
  echo "kernel $KPKG=$KVERSION ${KMODPKG:+$KMODPKG=$KMODVERSION}"
  echo "modules $MODULES_WANTED"
  echo "packages $(pkgver busybox-static) $(pkgver dropbear-bin)"
  sha256sum "$BUSYBOX" "$DROPBEAR" "$DROPBEARKEY" "${LIBS[@]}"
})
INPUT_HASH=$(sha256sum <<<"$INPUTS" | cut -d' ' -f1)
STAMP=$OUT_DIR/.build_ramdisk.stamp

outputs_hash() { (cd "$OUT_DIR" && sha256sum kernel initramfs 2>/dev/null) | sha256sum | cut -d' ' -f1; }
size_of() { local b; b=$(stat -c %s "$1"); echo "$b bytes ($(awk -v b="$b" 'BEGIN {printf "%.1f MiB", b / 1048576}'))"; }

if [ -f "$STAMP" ] && [ -f "$OUT_DIR/kernel" ] && [ -f "$OUT_DIR/initramfs" ] &&
  [ "$(sed -n 's/^inputs //p' "$STAMP")" = "$INPUT_HASH" ] &&
  [ "$(sed -n 's/^outputs //p' "$STAMP")" = "$(outputs_hash)" ]; then
  log "up to date: nothing rebuilt ($KPKG $KVERSION, inputs $INPUT_HASH)"
  log "  $OUT_DIR/kernel: $(size_of "$OUT_DIR/kernel")"
  log "  $OUT_DIR/initramfs: $(size_of "$OUT_DIR/initramfs")"
  exit 0
fi
T0=$(date +%s.%N)

# --- fetch and unpack the kernel package (cached per version) ------------------------------------
DEB_DIR=$WORK_DIR/debs
mkdir -p "$DEB_DIR"
# apt downloads as the unprivileged _apt user: give it DEB_DIR. Where it cannot reach DEB_DIR
# anyway (a parent directory closed to it, e.g. a mktemp -d), download as root, as apt would do
# by itself, only without its warning.
APT_SANDBOX=()
if id _apt >/dev/null 2>&1; then
  chown _apt "$DEB_DIR" 2>/dev/null || true
  if ! setpriv --reuid=_apt --regid="$(id -g _apt)" --clear-groups test -w "$DEB_DIR" 2>/dev/null; then
    APT_SANDBOX=(-o APT::Sandbox::User=root)
  fi
fi

cached_deb() { # package version -> the .deb already in DEB_DIR, if any (sets DEB)
  local d
  for d in "$DEB_DIR/$1"_*.deb; do
    [ -f "$d" ] && [ "$(dpkg-deb -f "$d" Version 2>/dev/null)" = "$2" ] && { DEB=$d; return 0; }
  done
  return 1
}
fetch_deb() { # package version -> sets DEB to the .deb, downloaded unless cached
  cached_deb "$1" "$2" && return 0
  log "downloading $1=$2"
  if ! (cd "$DEB_DIR" && apt-get download -q "${APT_SANDBOX[@]}" "$1=$2" >&2); then
    # Stale package lists (a kernel superseded by a security update is gone from the archive):
    # update them once and start over, which picks the current kernel.
    if [ -z "${BUILD_RAMDISK_APT_UPDATED:-}" ]; then
      log "apt-get download failed: running apt-get update and starting over"
      apt-get update -qq || die "apt-get update failed: the kernel package is fetched with apt-get download and needs apt access"
      export BUILD_RAMDISK_APT_UPDATED=1
      exec bash "$SELF"
    fi
    die "apt-get download $1=$2 failed (needs apt access to the distribution's archive or the room's mirror)"
  fi
  cached_deb "$1" "$2" || die "apt-get download $1=$2 left no .deb in $DEB_DIR"
}

KTREE=$WORK_DIR/kernel/${KPKG}_${KVERSION}${KMODPKG:++${KMODVERSION}}
if [ ! -f "$KTREE/.unpacked" ]; then
  fetch_deb "$KPKG" "$KVERSION"
  KDEB=$DEB
  KMODDEB=
  if [ -n "$KMODPKG" ]; then fetch_deb "$KMODPKG" "$KMODVERSION"; KMODDEB=$DEB; fi
  rm -rf "$KTREE"
  mkdir -p "$KTREE"
  log "unpacking $(basename "$KDEB")${KMODDEB:+ and $(basename "$KMODDEB")}"
  dpkg-deb -x "$KDEB" "$KTREE"
  if [ -n "$KMODDEB" ]; then dpkg-deb -x "$KMODDEB" "$KTREE"; fi
  # Merged-/usr packages ship /usr/lib/modules; depmod -b looks under BASE/lib/modules.
  if [ ! -d "$KTREE/lib/modules" ] && [ -d "$KTREE/usr/lib/modules" ]; then
    mkdir -p "$KTREE/lib"
    ln -s ../usr/lib/modules "$KTREE/lib/modules"
  fi
  KVER=$(ls "$KTREE/lib/modules" | head -n1)
  [ -n "$KVER" ] || die "$KPKG has no lib/modules/<version>"
  if [ ! -s "$KTREE/lib/modules/$KVER/modules.dep" ]; then
    # Packages leave modules.dep to depmod in their postinst; compute it here.
    if [ -n "$DEPMOD" ]; then
      "$DEPMOD" -b "$KTREE" "$KVER"
    else
      log "depmod (kmod) not found: using busybox depmod (apt-get install kmod for compressed modules)"
      "$BUSYBOX" depmod -b "$KTREE" "$KVER"
    fi
  fi
  touch "$KTREE/.unpacked"
fi
KVER=$(ls "$KTREE/lib/modules" | head -n1)
MODDIR=$KTREE/lib/modules/$KVER
VMLINUZ=$KTREE/boot/vmlinuz-$KVER
[ -f "$VMLINUZ" ] || VMLINUZ=$(find "$KTREE/boot" -maxdepth 1 -name 'vmlinuz-*' 2>/dev/null | sort | head -n1)
if [ -z "$VMLINUZ" ] || [ ! -f "$VMLINUZ" ]; then die "$KPKG has no /boot/vmlinuz-*"; fi
[ -s "$MODDIR/modules.dep" ] || die "no modules.dep in $MODDIR"

# --- module load order from modules.dep ----------------------------------------------------------
# Module name of a path, as the kernel spells it: kernel/drivers/char/hw_random/virtio-rng.ko -> virtio_rng
# (sets MODNAME; no subshell: modules.dep has thousands of lines).
modname() { MODNAME=${1##*/}; MODNAME=${MODNAME%%.ko*}; MODNAME=${MODNAME//-/_}; }
declare -A MOD_PATH=() MOD_DEPS=() BUILTIN=() VISITED=()
while IFS= read -r line; do
  path=${line%%:*}
  modname "$path"
  MOD_PATH[$MODNAME]=$path
  MOD_DEPS[$MODNAME]=${line#*:}
done <"$MODDIR/modules.dep"
if [ -f "$MODDIR/modules.builtin" ]; then
  while IFS= read -r path; do modname "$path"; BUILTIN[$MODNAME]=1; done <"$MODDIR/modules.builtin"
fi
ORDER=()
visit() { # depth-first: dependencies first
  local name=$1 dep
  [ -z "${VISITED[$name]:-}" ] || return 0
  VISITED[$name]=1
  for dep in ${MOD_DEPS[$name]}; do modname "$dep"; visit "$MODNAME"; done
  ORDER+=("$name")
}
for m in $MODULES_WANTED; do
  m=${m//-/_}
  if [ -n "${MOD_PATH[$m]:-}" ]; then
    visit "$m"
  elif [ -n "${BUILTIN[$m]:-}" ]; then
    log "$m is built into $KVER"
  else
    die "module $m is neither in $MODDIR/modules.dep nor built in"
  fi
done

# --- the root tree ---------------------------------------------------------------------------------
STAGE=$WORK_DIR/stage
ROOT=$STAGE/root
rm -rf "$STAGE"
mkdir -p "$ROOT"
cd "$ROOT"
mkdir -p bin sbin usr/bin usr/sbin lib lib64 etc/dropbear etc/fleet dev proc sys run tmp root/.ssh \
  var/log lib/modules/fleet
ln -s ../run var/run
chmod 1777 tmp
chmod 700 root root/.ssh

cp "$BUSYBOX" bin/busybox
# Every applet as a symlink at its usual place (bin/sh, sbin/init, sbin/udhcpc, ...).
while IFS= read -r applet; do
  [[ $applet == */* ]] || continue # not linuxrc
  [ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
done < <("$BUSYBOX" --list-full)
[ -L bin/sh ] || ln -s busybox bin/sh

cp "$DROPBEAR" usr/sbin/dropbear
cp "$DROPBEARKEY" usr/bin/dropbearkey
for lib in "${LIBS[@]}"; do
  mkdir -p ".${lib%/*}"
  cp -L "$lib" ".$lib"
done

: >etc/fleet/modules
for m in "${ORDER[@]}"; do
  src=$MODDIR/${MOD_PATH[$m]}
  case $src in
    *.ko) cp "$src" "lib/modules/fleet/$m.ko" ;;
    *.ko.xz) need xz xz-utils >/dev/null; xz -dc "$src" >"lib/modules/fleet/$m.ko" ;;
    *.ko.zst) need zstd zstd >/dev/null; zstd -qdc "$src" >"lib/modules/fleet/$m.ko" ;;
    *.ko.gz) gzip -dc "$src" >"lib/modules/fleet/$m.ko" ;;
    *) die "unknown module format: $src" ;;
  esac
  echo "$m.ko" >>etc/fleet/modules
done

install -m 600 "$SSH_PUBKEY" root/.ssh/authorized_keys
cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
cat >etc/group <<'EOF'
root:x:0:
tty:x:5:
EOF
echo /bin/sh >etc/shells
cat >etc/nsswitch.conf <<'EOF'
passwd: files
group: files
shadow: files
hosts: files dns
EOF
echo 'fleet-ramdisk' >etc/hostname
echo '127.0.0.1 localhost fleet-ramdisk' >etc/hosts
: >etc/resolv.conf
cat >etc/profile <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
PS1='fleet-ramdisk:\w\$ '
EOF

# busybox init takes over from /init once SSH is up: a shell on the console, orphans reaped,
# poweroff/reboot work.
cat >etc/inittab <<'EOF'
::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
EOF

cat >etc/fleet/udhcpc.script <<'EOF'
#!/bin/sh
# udhcpc event script (udhcpc -s): sets the address, the default route and resolv.conf.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound | renew)
    prefix=$mask
    [ -n "$prefix" ] || prefix=$(ipcalc -p "$ip" "$subnet" | sed 's/^PREFIX=//')
    if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/$prefix "; then
      ip -4 addr flush dev "$interface"
      ip addr add "$ip/$prefix" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    fi
    if [ -n "$router" ]; then
      gw=${router%% *}
      ip route replace default via "$gw" dev "$interface"
    fi
    : >/etc/resolv.conf
    [ -z "$domain" ] || echo "search $domain" >>/etc/resolv.conf
    for s in $dns; do echo "nameserver $s" >>/etc/resolv.conf; done
    echo "$ip" >/run/fleet-ip
    echo "fleet-ramdisk: dhcp $1: $ip/$prefix on $interface${gw:+ via $gw}" >/dev/console
    ;;
  leasefail | nak)
    echo "fleet-ramdisk: dhcp $1 on $interface" >/dev/console
    ;;
esac
exit 0
EOF
chmod 755 etc/fleet/udhcpc.script

cat >init <<'EOF'
#!/bin/sh
# fleet-ramdisk /init (busybox sh): modules, network, SSH, then busybox init.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || { mount -t tmpfs -o mode=755 tmpfs /dev && mdev -s; }
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=755 tmpfs /run
hostname fleet-ramdisk
say() { echo "fleet-ramdisk: $*"; }
say "booting $(uname -r)"

while read -r m; do
  insmod "/lib/modules/fleet/$m" || say "insmod $m failed"
done </etc/fleet/modules
say "modules: $(sed 's/\.ko$//' /etc/fleet/modules | tr '\n' ' ')"

cmdline_arg() { # value of NAME= on the kernel command line
  for a in $(cat /proc/cmdline); do
    case $a in "$1"=*) echo "${a#*=}"; return 0 ;; esac
  done
  return 1
}
nic_by_mac() {
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && { echo "${d##*/}"; return 0; }
  done
  return 1
}
first_nic() { # the first non-lo interface, preferring ones backed by a device
  for want_dev in 1 0; do
    for d in /sys/class/net/*; do
      n=${d##*/}
      [ "$n" = lo ] && continue
      [ "$want_dev" = 0 ] || [ -e "$d/device" ] || continue
      echo "$n"
      return 0
    done
  done
  return 1
}

ip link set lo up
# BOOTIF=01-aa-bb-cc-dd-ee-ff (PXELINUX style: ARP type 01, then the MAC); also accept a bare MAC.
mac=
if bootif=$(cmdline_arg BOOTIF); then
  mac=$(echo "$bootif" | tr 'A-F-' 'a-f:')
  case $mac in ??:??:??:??:??:??:??) mac=${mac#??:} ;; esac
fi
ipspec=$(cmdline_arg ip || true)
ipdev=$(echo "$ipspec" | cut -d: -f6)

iface=
how=
i=0
while :; do # NICs appear while the virtio drivers probe: wait up to ~10 s
  if [ -n "$mac" ]; then
    iface=$(nic_by_mac "$mac") && { how="BOOTIF $mac"; break; }
  elif [ -n "$ipdev" ]; then
    [ -e "/sys/class/net/$ipdev" ] && { iface=$ipdev; how="the ip= device"; break; }
  else # give every NIC a second to show up so that "first" means the same on every boot
    iface=$(first_nic) && [ $i -ge 10 ] && { how="first NIC, no BOOTIF"; break; }
  fi
  i=$((i + 1))
  [ $i -lt 100 ] || break
  usleep 100000
done
if [ -z "$how" ]; then
  [ -z "$mac" ] || say "no NIC has the BOOTIF address $mac: falling back to the first NIC"
  [ -z "$ipdev" ] || [ -n "$mac" ] || say "no NIC $ipdev (ip=): falling back to the first NIC"
  iface=$(first_nic) && how="first NIC, fallback" || iface=
fi
say "interfaces: $(for d in /sys/class/net/*; do printf '%s=%s ' "${d##*/}" "$(cat "$d/address")"; done)"

addr=
if [ -z "$iface" ]; then
  say "no network interface found"
else
  say "using interface $iface ($(cat "/sys/class/net/$iface/address"), $how)"
  ip link set "$iface" up
  ipaddr=$(echo "$ipspec" | cut -d: -f1)
  case $ipaddr in
    '' | dhcp | on | any | both | bootp | off | none)
      if udhcpc -i "$iface" -s /etc/fleet/udhcpc.script -t 20 -T 3 -n -x hostname:fleet-ramdisk; then
        addr=$(cat /run/fleet-ip 2>/dev/null)
      else
        say "no DHCP lease on $iface yet: udhcpc keeps trying in the background"
        udhcpc -i "$iface" -s /etc/fleet/udhcpc.script -b -x hostname:fleet-ramdisk
      fi
      ;;
    *) # ip=ADDR:SERVER:GW:MASK:HOST:DEV:AUTOCONF:DNS0:DNS1 (the kernel's syntax)
      gw=$(echo "$ipspec" | cut -d: -f3)
      netmask=$(echo "$ipspec" | cut -d: -f4)
      host=$(echo "$ipspec" | cut -d: -f5)
      case $netmask in
        '') prefix=24 ;;
        *.*) prefix=$(ipcalc -p "$ipaddr" "$netmask" | sed 's/^PREFIX=//') ;;
        *) prefix=$netmask ;;
      esac
      ip addr add "$ipaddr/$prefix" dev "$iface"
      [ -z "$gw" ] || ip route replace default via "$gw" dev "$iface"
      [ -z "$host" ] || hostname "$host"
      for s in $(echo "$ipspec" | cut -d: -f8-9 | tr : ' '); do echo "nameserver $s" >>/etc/resolv.conf; done
      addr=$ipaddr
      say "static $ipaddr/$prefix on $iface${gw:+ via $gw}"
      ;;
  esac
fi

# dropbearkey reads getrandom(), which blocks until the kernel's RNG is initialised: at once with
# virtio-rng (loaded above) or RDRAND, after a few seconds of jitter entropy otherwise.
say "entropy_avail $(cat /proc/sys/kernel/random/entropy_avail), generating the host key"
if dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1; then
  say "host key $(dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key | sed -n 's/^Fingerprint: //p')"
else
  say "dropbearkey failed"
fi
dropbear -E -s -p 22 -r /etc/dropbear/dropbear_ed25519_host_key -P /run/dropbear.pid
i=0
while ! grep -q '^ *[0-9]*: 00000000:0016 00000000:0000 0A' /proc/net/tcp && ! grep -q ':0016 0\{32\}:0000 0A' /proc/net/tcp6 2>/dev/null; do
  i=$((i + 1))
  [ $i -lt 50 ] || { say "dropbear is not listening on port 22"; break; }
  usleep 100000
done
say "ready ${addr:-unconfigured} (ssh root@${addr:-?} on $iface)"
exec /sbin/init
EOF
chmod 755 init

# The kernel opens /dev/console for /init before anything is mounted (where mknod is refused,
# /init reopens it on devtmpfs). Owners root, a fixed timestamp: the same inputs, the same archive.
mknod -m 600 dev/console c 5 1 2>/dev/null || log "mknod dev/console refused: /init reopens the console on devtmpfs"
find . -exec touch -h -d @0 {} +

OUT_TMP_K=$OUT_DIR/.kernel.tmp.$$
OUT_TMP_I=$OUT_DIR/.initramfs.tmp.$$
trap 'rm -f "$OUT_TMP_K" "$OUT_TMP_I"' EXIT
find . -mindepth 1 -print | sort | cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9 -n >"$OUT_TMP_I"
cp "$VMLINUZ" "$OUT_TMP_K"
chmod 644 "$OUT_TMP_K" "$OUT_TMP_I"
rm -f "$STAMP"
mv -f "$OUT_TMP_K" "$OUT_DIR/kernel"
mv -f "$OUT_TMP_I" "$OUT_DIR/initramfs"
{
  echo "inputs $INPUT_HASH"
  echo "outputs $(outputs_hash)"
  printf '%s\n' "$INPUTS" | sed 's/^/# /'
} >"$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
cd /
rm -rf "$STAGE"

T1=$(date +%s.%N)
log "built in $(awk -v a="$T0" -v b="$T1" 'BEGIN {printf "%.1f s", b - a}') from $KPKG $KVERSION${KMETA:+ (via $KMETA)}${KMODPKG:+ + $KMODPKG $KMODVERSION}, $(pkgver busybox-static), $(pkgver dropbear-bin)"
log "  modules (load order): ${ORDER[*]}"
log "  $OUT_DIR/kernel: $(size_of "$OUT_DIR/kernel")"
log "  $OUT_DIR/initramfs: $(size_of "$OUT_DIR/initramfs")"
