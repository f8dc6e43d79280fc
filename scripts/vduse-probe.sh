#!/bin/sh
# What the vhost-vdpa path can be tested with here: run in the nested
# guest with bookworm-backports' 6.12 kernel (vduse, vhost_vdpa), e.g.
#   apt-get install -t bookworm-backports linux-image-6.12.88+deb12-amd64
#   L1_KERNEL=6.12.88+deb12-amd64 L1_MODULES="vduse vhost_vdpa" \
#       make l1 CMD="sh scripts/vduse-probe.sh"
# It shows which device classes VDUSE accepts, creates a VDUSE block
# device from qemu-storage-daemon's vduse-blk export, binds it to
# vhost-vdpa with iproute2's vdpa tool, and asks the work tree's QEMU
# whether a guest with vhost-vdpa-device-pci on it can migrate.
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/build/qemu/build}
set -u
echo "kernel $(uname -r)"
vdpa mgmtdev show vduse || exit 1
"$B/storage-daemon/qemu-storage-daemon" \
    --blockdev null-co,node-name=d0,read-zeroes=on \
    --export type=vduse-blk,id=v0,node-name=d0,name=vduse0,num-queues=1,writable=on \
    --daemonize --pidfile /tmp/vduse-probe.pid || exit 1
vdpa dev add name vduse0 mgmtdev vduse || exit 1
vdpa dev show vduse0
ls -l /dev/vhost-vdpa-*
timeout 30 "$B/qemu-system-x86_64" -M pc -accel qtest -nodefaults \
    -display none -device vhost-vdpa-device-pci,vhostdev=/dev/vhost-vdpa-0 \
    -qmp stdio <<QMP
{"execute": "qmp_capabilities"}
{"execute": "query-migrate"}
{"execute": "migrate", "arguments": {"uri": "exec:cat > /dev/null"}}
{"execute": "quit"}
QMP
vdpa dev del vduse0
kill "$(cat /tmp/vduse-probe.pid)"
