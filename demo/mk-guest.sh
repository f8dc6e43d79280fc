#!/bin/bash
# Build the demo guest: Debian's cloud kernel and a busybox initramfs that
# loads virtio-net, configures the slirp network and runs the UDP probe.
#
# Usage: mk-guest.sh OUTDIR      (writes OUTDIR/vmlinuz and OUTDIR/initrd.gz)
set -euo pipefail

OUT=${1:?usage: mk-guest.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1)
[ -n "$kernel" ] || { echo "mk-guest: no cloud kernel (linux-image-cloud-amd64)" >&2; exit 1; }
kver=${kernel#/boot/vmlinuz-}
stamp="$kver $(sha256sum "$HERE/probe.c" "$0" | sha256sum | cut -c1-16)"
if [ -f "$OUT/initrd.gz" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules,tmp}
cp /bin/busybox "$root/bin/busybox"
gcc -O2 -static -Wall -o "$root/bin/probe" "$HERE/probe.c"
mknod "$root/dev/console" c 5 1

# virtio-pci, virtio-net and what they need, in load order
for f in $(modprobe -S "$kver" -a --show-depends virtio_pci virtio_net |
           awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++'); do
    m=$(basename "$f"); m=${m%%.ko*}
    case "$f" in
    *.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
    esac
    echo "$m" >> "$root/lib/modules/order"
done
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
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1))
done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo "guest: up, $(grep -c . /proc/interrupts) irq lines"
exec /bin/probe 10.0.2.2 "$(arg probe.port)" "$(arg probe.interval)"
INIT
chmod +x "$root/init"

cp "$kernel" "$OUT/vmlinuz"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initrd.gz"
echo "$stamp" > "$OUT/stamp"
echo "mk-guest: $OUT/vmlinuz ($kver) + initrd.gz"
