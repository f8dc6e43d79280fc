#!/usr/bin/python3
"""Make the seed corpus of the virtio-net-iterative fuzz targets from real
migration streams.

For each target, boot the demo guest (its virtio-net driver configures
the device: features, queues, MAC filter, multiqueue), migrate it with
the 'virtio-iterative' capability to a file, cut the sections of the
device's iterative entry and of the device out of the stream and write
them in the harness's input format (tests/qtest/fuzz/
virtio_net_iterative_fuzz.c): chunks of u8 kind (even: iterative entry,
odd: device), be16 length, bytes.  A few variants of each stream are
written too (records alone, a FULL record relabelled as DELTA, the device
section alone), so that every record kind is in the corpus from the start.

The device configurations must be the harness's: same netdev kind (it
decides the host features), same queue count, same PCI address.

Run as root, in a network namespace of its own (the four-queue target
uses a multiqueue tap):
  unshare -n scripts/fuzz-seeds.py --python SRC/python QEMU GUEST OUT
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from iterative import vm as vmlib, wire as iterative_wire

# migration/savevm.h
SECTION_START, SECTION_PART, SECTION_FULL = 1, 2, 4
SECTION_FOOTER = 0x7e
# record tags, from include/migration/iterative-device-wire.h (main())
TAG_PREFIX = TAG_FULL = TAG_DELTA = TAG_END = None

DEVICE = '0000:00:04.0'
TARGETS = {
    'virtio-net-iterative': {
        'netdev': ['-netdev', 'hubport,id=n0,hubid=0'],
        'device': 'virtio-net-pci,netdev=n0,addr=04.0',
        'queues': 1,
    },
    'virtio-net-iterative-mq': {
        'netdev': ['-netdev', 'tap,id=n0,ifname=fuzz0,script=no,'
                   'downscript=no,vhost=off,queues=4'],
        'device': 'virtio-net-pci,netdev=n0,addr=04.0,mq=on,vectors=10',
        'queues': 4,
    },
}


def chunk(kind, payload):
    return bytes([kind]) + struct.pack('>H', len(payload)) + payload


def records_end(stream, pos):
    """End of the records that start at `pos` (after the END tag)"""
    while True:
        tag, = struct.unpack_from('>Q', stream, pos)
        pos += 8
        if tag == TAG_END:
            return pos
        length, = struct.unpack_from('>I', stream, pos)
        pos += 4 + length


def header_at(stream, idstr, types):
    """(section id, payload offset) of every section header of `idstr`"""
    name = bytes([len(idstr)]) + idstr.encode()
    found = []
    pos = stream.find(name)
    while pos >= 0:
        start = pos - 5
        if start >= 0 and stream[start] in types:
            sid = stream[start + 1:start + 5]
            found.append((sid, pos + len(name) + 8))
        pos = stream.find(name, pos + 1)
    return found


def cut(stream):
    """The iterative entry's payloads and the device section's payload"""
    iterative = []
    (sid, pos), = header_at(stream, DEVICE + '/iterative', (SECTION_START,))
    end = records_end(stream, pos)
    iterative.append(stream[pos:end])
    # PART sections: type, section id, then a record tag
    part = bytes([SECTION_PART]) + sid + TAG_PREFIX
    pos = stream.find(part, end)
    while pos >= 0:
        end = records_end(stream, pos + 5)
        iterative.append(stream[pos + 5:end])
        pos = stream.find(part, end)

    (dsid, dpos), = header_at(stream, DEVICE + '/virtio-net', (SECTION_FULL,))
    footer = bytes([SECTION_FOOTER]) + dsid
    end = stream.find(footer, dpos)
    # the footer is followed by the next section (or EOF)
    while end >= 0 and end + 5 < len(stream) and stream[end + 5] > 8:
        end = stream.find(footer, end + 1)
    device = stream[dpos:end]
    return iterative, device


def as_delta(payload):
    """The FULL record of a START payload relabelled as a DELTA"""
    pos = 0
    while pos + 12 <= len(payload):
        tag, length = struct.unpack_from('>QI', payload, pos)
        if tag == TAG_END:
            break
        if tag == TAG_FULL:
            record = bytearray(payload[pos:pos + 12 + length])
            struct.pack_into('>Q', record, 0, TAG_DELTA)
            gen, = struct.unpack_from('>I', record, 12)
            struct.pack_into('>I', record, 12, gen + 1)
            return bytes(record) + struct.pack('>Q', TAG_END)
        pos += 12 + length
    return None


def migrate_to_file(qemu, guest, conf, workdir, name):
    args = ['-kernel', os.path.join(guest, 'vmlinuz'),
            '-initrd', os.path.join(guest, 'initrd.gz'),
            '-append', 'console=ttyS0 quiet probe.port=9 probe.interval=100 '
            'net.queues=%d' % conf['queues'],
            '-smp', '2' if conf['queues'] > 1 else '1',
            '-device', conf['device']] + conf['netdev']
    vm = vmlib.Vm(qemu, workdir, name, args, trace=())
    try:
        vm.wait_serial(r'guest: up', 120)
        path = os.path.join(workdir, name + '.mig')
        vm.cmd('migrate-set-capabilities', capabilities=[
            {'capability': 'virtio-iterative', 'state': True}])
        vm.cmd('migrate', uri='file:' + path)
        for _ in range(1200):
            info = vm.cmd('query-migrate')
            if info.get('status') == 'completed':
                break
            if info.get('status') in ('failed', 'cancelled'):
                raise RuntimeError('%s: migration %s: %s' % (
                    name, info['status'], info.get('error-desc')))
            vmlib.time.sleep(0.1)
        else:
            raise RuntimeError('%s: migration did not complete' % name)
        with open(path, 'rb') as f:
            return f.read()
    finally:
        vm.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('qemu')
    ap.add_argument('guest')
    ap.add_argument('out')
    ap.add_argument('--python', required=True,
                    help="QEMU's python/ directory (qemu.qmp)")
    args = ap.parse_args()
    sys.path.insert(0, args.python)
    global TAG_PREFIX, TAG_FULL, TAG_DELTA, TAG_END
    wire = iterative_wire.Wire(os.path.dirname(os.path.abspath(args.python)))
    TAG_PREFIX = struct.pack('>Q', wire.tag_base)[:7]
    TAG_FULL, TAG_DELTA = wire.tags['FULL'], wire.tags['DELTA']
    TAG_END = wire.tags['END']

    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    subprocess.run(['ip', 'tuntap', 'add', 'fuzz0', 'mode', 'tap',
                    'multi_queue', 'vnet_hdr'], check=True)
    workdir = tempfile.mkdtemp(prefix='fuzz-seeds.')
    try:
        for target, conf in TARGETS.items():
            stream = migrate_to_file(args.qemu, args.guest, conf, workdir,
                                     target)
            iterative, device = cut(stream)
            seeds = {
                'stream': b''.join(chunk(0, p) for p in iterative) +
                          chunk(1, device),
                'records': b''.join(chunk(0, p) for p in iterative),
                'device': chunk(1, device),
            }
            delta = as_delta(iterative[0])
            if delta:
                seeds['delta'] = (chunk(0, iterative[0]) + chunk(0, delta) +
                                  chunk(1, device))
            # only the seeds: what fuzzing added to the corpus stays
            outdir = os.path.join(args.out, target)
            os.makedirs(outdir, exist_ok=True)
            for old in os.listdir(outdir):
                if old.startswith('seed-'):
                    os.unlink(os.path.join(outdir, old))
            for name, data in seeds.items():
                with open(os.path.join(outdir, 'seed-' + name), 'wb') as f:
                    f.write(data)
            print('%s: %d iterative sections (%d bytes), device section %d '
                  'bytes' % (target, len(iterative),
                             sum(map(len, iterative)), len(device)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
