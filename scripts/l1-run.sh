#!/bin/bash
# Run a command in a nested (L1) guest that has /dev/vhost-net and
# /dev/net/tun, against this host's files.
#
# The guest boots Debian's generic kernel (package linux-image-amd64; the
# cloud flavour has no 9p) under TCG, mounts the host's / read-only over
# virtio-9p, puts tmpfs on /tmp, /run and /dev/shm, loads vhost_net and
# tun, and runs COMMAND as root in a chroot of the host's tree, in the
# current directory and with the environment variables named by --env.
# Nothing is copied: the build tree is read where it is.  The output goes
# to a scratch directory that the guest mounts read-write over 9p (at the
# same path) and is printed here; the exit status is COMMAND's.
#
# Usage: l1-run.sh [--timeout S] [--qemu BIN] [--env NAME]... -- COMMAND...
#   --timeout S   kill the guest after S seconds (default 600; status 124)
#   --qemu BIN    the QEMU that runs the guest (default: the work tree's)
#   --env NAME    pass $NAME into the guest (repeatable)
# Environment: L1_SMP (default 2), L1_MEM (default 2048, MiB),
#              L1_KEEP=1 keeps the scratch directory,
#              L1_KERNEL=VERSION boots /boot/vmlinuz-VERSION (default: the
#              kernel package linux-image-amd64 depends on; "newest": the
#              newest generic one, e.g. bookworm-backports' 6.12),
#              L1_MODULES="m1 m2" loads more modules (e.g. "vduse
#              vhost_vdpa" with bookworm-backports' 6.12 kernel).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=initramfs-modules.sh
. "$TOP/scripts/initramfs-modules.sh"
OUT=$TOP/build/l1
QEMU=$TOP/build/qemu/build/qemu-system-x86_64
timeout=600
envs=()
while [ $# -gt 0 ]; do
    case "$1" in
    --timeout) timeout=$2; shift 2 ;;
    --qemu) QEMU=$2; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || { sed -n 's/^# \{0,1\}//p' "$0" | sed -n '/^Usage/,/^Environment/p' >&2; exit 2; }

die() { echo "l1-run: $*" >&2; exit 3; }

# Debian's generic kernel and its modules: L1_KERNEL, else the one the
# linux-image-amd64 package depends on, else (or with L1_KERNEL=newest)
# the newest generic one
kver=${L1_KERNEL:-$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null |
                   sed -n 's/^linux-image-\([^ ,]*\).*/\1/p')}
if [ -z "$kver" ] || [ "$kver" = newest ]; then
    kernel=$(ls -1 /boot/vmlinuz-*-amd64 2>/dev/null | grep -v -- '-cloud-' |
             sort -V | tail -n1 || true)
    kver=${kernel#/boot/vmlinuz-}
fi
kernel=/boot/vmlinuz-$kver
[ -n "$kver" ] && [ -f "$kernel" ] ||
    die "no generic kernel ${L1_KERNEL:+$L1_KERNEL }in /boot (apt-get install linux-image-amd64)"
[ -d "/lib/modules/$kver" ] || die "no /lib/modules/$kver"
modules=${L1_MODULES:-}
for m in 9p 9pnet_virtio vhost_net tun $modules; do
    modprobe -S "$kver" --show-depends "$m" > /dev/null 2>&1 ||
        die "kernel $kver has no module $m"
done
[ -x "$QEMU" ] || die "$QEMU: not built (make build)"
command -v busybox > /dev/null || die "busybox not found (apt-get install busybox)"

# The initramfs: busybox, the 9p modules, an init that mounts the host
mkdir -p "$OUT"
stamp="$kver $(sha256sum "$0" "$(command -v busybox)" \
                 "$TOP/scripts/initramfs-modules.sh" | sha256sum | cut -c1-16)"
initrd=$OUT/initrd-$kver.gz
if [ ! -f "$initrd" ] || [ "$(cat "$initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root"/{bin,dev,proc,sys,host,scratch,lib/modules}
    cp "$(command -v busybox)" "$root/bin/busybox"
    add_modules "$kver" "$root" order virtio_pci 9p 9pnet_virtio
    cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do
    insmod /lib/modules/$m.ko || echo "l1: insmod $m failed"
done
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
scratch=$(arg l1.scratch)
opts=trans=virtio,version=9p2000.L,msize=524288,cache=loose
mount -t 9p -o $opts,ro host /host || echo "l1: cannot mount the host"
mount -t 9p -o $opts scratch /scratch || echo "l1: cannot mount scratch"
for d in proc sys dev; do mount --rbind /$d /host/$d; done
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
mount -t tmpfs shm /host/dev/shm
mount --bind /scratch "/host$scratch"
chroot /host /sbin/modprobe -a vhost_net tun $(arg l1.modules | tr , ' ') ||
    echo "l1: modprobe failed"
chroot /host /bin/sh "$scratch/cmd" > /scratch/output 2>&1
echo $? > /scratch/status
sync
poweroff -f
INIT
    chmod +x "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd"
    echo "$stamp" > "$initrd.stamp"
    rm -rf "$root"
    trap - EXIT
fi

# The command, its directory and environment, for the guest's shell
scratch=$(mktemp -d "$OUT/run.XXXXXX")
{
    echo "cd $(printf '%q' "$PWD") || exit 125"
    echo "export TMPDIR=/tmp HOME=/tmp"
    for e in "${envs[@]}"; do
        [ -n "${!e+x}" ] && echo "export $e=$(printf '%q' "${!e}")"
    done
    printf '%q ' "$@"
    echo
} > "$scratch/cmd"

set +e
timeout --foreground -k 10 "$timeout" "$QEMU" -M q35 -accel tcg -cpu max \
    -smp "${L1_SMP:-2}" -m "${L1_MEM:-2048}" -nodefaults -nographic \
    -no-reboot -serial "file:$scratch/console" \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 l1.scratch=$scratch l1.modules=$(echo $modules | tr ' ' ,)" \
    -virtfs local,path=/,mount_tag=host,security_model=passthrough,readonly=on \
    -virtfs "local,path=$scratch,mount_tag=scratch,security_model=passthrough"
qemu_rc=$?
set -e
cat "$scratch/output" 2>/dev/null || true
if [ -f "$scratch/status" ]; then
    rc=$(cat "$scratch/status")
elif [ "$qemu_rc" = 124 ]; then
    echo "l1-run: timed out after $timeout s" >&2
    rc=124
else
    echo "l1-run: the guest ended without a status; its console:" >&2
    tail -n 30 "$scratch/console" >&2 || true
    rc=3
fi
[ "${L1_KEEP:-}" ] && echo "l1-run: kept $scratch" >&2 || rm -rf "$scratch"
exit "$rc"
