#!/bin/bash
# Build the demo guest: Debian's cloud kernel and a busybox initramfs that
# loads virtio-net, configures the network and runs the UDP probe.
#
# Kernel command line arguments read by the guest's init:
#   probe.port=P probe.interval=MS   the UDP probe (required)
#   net.addr=A/LEN                    eth0 address (default 10.0.2.15/24, slirp)
#   net.gw=G                          gateway and probe server (default 10.0.2.2)
#   net.queues=N                      ethtool -L eth0 combined N (multiqueue)
#   guest.devices=all                 also load the drivers of virtio-blk,
#                                     virtio-scsi, virtio-console,
#                                     virtio-balloon and virtio-rng (the
#                                     benchmark's realistic VM)
#
# Usage: mk-guest.sh OUTDIR      (writes OUTDIR/vmlinuz and OUTDIR/initrd.gz)
set -euo pipefail

OUT=${1:?usage: mk-guest.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../scripts/initramfs-modules.sh
. "$HERE/../scripts/initramfs-modules.sh"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1)
[ -n "$kernel" ] || { echo "mk-guest: no cloud kernel (linux-image-cloud-amd64)" >&2; exit 1; }
kver=${kernel#/boot/vmlinuz-}
ethtool=$(command -v ethtool || echo /usr/sbin/ethtool)
[ -x "$ethtool" ] || { echo "mk-guest: ethtool not found (apt-get install ethtool)" >&2; exit 1; }
stamp="$kver $(sha256sum "$HERE/probe.c" "$0" "$ethtool" \
                 "$HERE/../scripts/initramfs-modules.sh" | sha256sum | cut -c1-16)"
if [ -f "$OUT/initrd.gz" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules,tmp}
cp /bin/busybox "$root/bin/busybox"
gcc -O2 -static -Wall -o "$root/bin/probe" "$HERE/probe.c"
mknod "$root/dev/console" c 5 1

# ethtool (dynamically linked) and its shared libraries, for multiqueue
cp "$ethtool" "$root/bin/ethtool"
for lib in $(ldd "$ethtool" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

# virtio-pci, virtio-net and what they need, in load order; the other
# virtio devices of the realistic VM, loaded on request
add_modules "$kver" "$root" order virtio_pci virtio_net
add_modules "$kver" "$root" extra virtio_blk virtio_scsi sd_mod \
    virtio_console virtio_balloon virtio_rng
grep -qx virtio_net "$root/lib/modules/order" ||
    grep -qx 'CONFIG_VIRTIO_NET=y' "/boot/config-$kver" ||
    { echo "mk-guest: virtio_net module not found for $kver" >&2; exit 1; }

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in $(cat /lib/modules/order); do
    insmod /lib/modules/$m.ko
done
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
if [ "$(arg guest.devices)" = all ]; then
    for m in $(cat /lib/modules/extra); do
        insmod /lib/modules/$m.ko
    done
fi
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1))
done
addr=$(arg net.addr)
gw=$(arg net.gw)
queues=$(arg net.queues)
if [ -n "$queues" ]; then
    ethtool -L eth0 combined "$queues" || echo "guest: ethtool -L failed"
fi
ip link set lo up
ip link set eth0 up
ip addr add "${addr:-10.0.2.15/24}" dev eth0
ip route add default via "${gw:-10.0.2.2}"
echo "guest: up, $(grep -c . /proc/interrupts) irq lines," \
     "$(ls /sys/class/net/eth0/queues | grep -c '^rx-') queue pairs," \
     "$(ls /sys/bus/virtio/drivers/*/ 2>/dev/null | grep -c '^virtio') virtio devices bound"
exec /bin/probe "${gw:-10.0.2.2}" "$(arg probe.port)" "$(arg probe.interval)"
INIT
chmod +x "$root/init"

cp "$kernel" "$OUT/vmlinuz"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initrd.gz"
echo "$stamp" > "$OUT/stamp"
echo "mk-guest: $OUT/vmlinuz ($kver) + initrd.gz"
