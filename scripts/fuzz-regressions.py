#!/usr/bin/python3
"""Write the fuzz targets' regression inputs (fuzz/crashes/) from a seed.

Each input recreates, in the current stream format, an input with which
the fuzzer found a defect; "make check" replays them.  Made from
seed-stream (scripts/fuzz-seeds.py): run again after a format change.

  empty-stream-field       a field with no data at all, not even the
                           byte after it (a zero-length copy from NULL,
                           undefined behaviour, in field_replay())
  queue-size-0-then-reset  a queue layout with a queue of size 0: the
                           size was set before it was checked, and the
                           reset after the failed load walked a queue
                           list that ended early (virtio_load_queue_layout)

Usage: fuzz-regressions.py QEMU_SOURCE SEED OUTDIR
"""

import os
import struct
import sys

from iterative import wire as iterative_wire


def edit_full(wire, data, edit):
    """@data with edit(fields) applied to the first FULL record's fields"""
    out = []
    done = False
    for kind, payload in iterative_wire.chunks(data):
        if kind % 2 == 0 and not done:
            records = []
            for tag, body in wire.records(payload):
                if tag == wire.tags['FULL'] and not done:
                    generation, fields = wire.fields(body)
                    edit(fields)
                    body = wire.join_fields(generation, fields)
                    done = True
                records.append((tag, body))
            payload = wire.join_records(records)
        out.append((kind, payload))
    assert done, 'no FULL record in the seed'
    return iterative_wire.join_chunks(out)


def field(fields, name):
    for f in fields:
        if f[0] == name:
            return f
    raise KeyError(name)


def empty_field(fields):
    field(fields, 'virtio/status')[2] = b''


def queue_size_0(fields):
    f = field(fields, 'virtio/queues')
    # be32 count, then per queue be32 size first
    f[2] = f[2][:4] + struct.pack('>I', 0) + f[2][8:]


def main():
    src, seed, outdir = sys.argv[1:4]
    wire = iterative_wire.Wire(src)
    data = open(seed, 'rb').read()
    os.makedirs(outdir, exist_ok=True)
    for name, edit in (('empty-stream-field', empty_field),
                       ('queue-size-0-then-reset', queue_size_0)):
        with open(os.path.join(outdir, name), 'wb') as f:
            f.write(edit_full(wire, data, edit))
        print('%s/%s' % (outdir, name))


if __name__ == '__main__':
    main()
