#!/usr/bin/env python3
# TAP: libvhost-user (through the vhost-user-net test back-end) against
# malformed and out-of-order VHOST_USER_START_RINGS requests, as a broken
# or hostile front-end would send them.  Each must be answered with a
# failure and change nothing; the back-end must stay up and answer the
# next request.  Well-formed requests after BEGIN must succeed.
#
# Usage: vu-start-rings-check.py BACKEND
#
# The numbers come from the spec (docs/interop/vhost-user.rst), as a
# front-end that is not QEMU would take them.

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

VERSION = 0x1
REPLY = 0x4
GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
GET_QUEUE_NUM = 17
PRESTART = 1024
START_RINGS = 1025
F_PROTOCOL_FEATURES = 1 << 30
F_VERSION_1 = 1 << 32
PF_PRESTART = 1 << 48
PF_PRESTART_RINGS = 1 << 49
RING_BASE, RING_ENABLE, RING_ENABLED = 1, 2, 4
QUEUES = 2                      # queue pairs: rings 0..3

results = []


def check(ok, desc):
    results.append(ok)
    print('%s %d - %s' % ('ok' if ok else 'not ok', len(results), desc),
          flush=True)


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)

    def send(self, req, payload=b'', need_reply=False):
        flags = VERSION | (0x8 if need_reply else 0)
        self.s.sendall(struct.pack('<III', req, flags, len(payload)) +
                       payload)

    def recv(self):
        hdr = b''
        while len(hdr) < 12:
            chunk = self.s.recv(12 - len(hdr))
            if not chunk:
                raise EOFError('back-end closed the connection')
            hdr += chunk
        req, flags, size = struct.unpack('<III', hdr)
        body = b''
        while len(body) < size:
            chunk = self.s.recv(size - len(body))
            if not chunk:
                raise EOFError('back-end closed the connection')
            body += chunk
        return req, flags, body

    def call_u64(self, req, payload=b''):
        self.send(req, payload)
        r, flags, body = self.recv()
        if r != req or not flags & REPLY or len(body) != 8:
            raise RuntimeError('bad reply to %d: %d 0x%x %d bytes' %
                               (req, r, flags, len(body)))
        return struct.unpack('<Q', body)[0]


def start_rings(entries, count=None, pad=0):
    body = b''.join(struct.pack('<HHI', i, f, n) for i, f, n in entries)
    return struct.pack('<II', len(entries) if count is None else count,
                       0) + body + b'\0' * pad


def main():
    backend = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix='vu-start-rings-')
    path = os.path.join(tmp, 'vu.sock')
    log = os.path.join(tmp, 'backend.log')
    proc = subprocess.Popen([backend, '--socket-path', path, '--queues',
                             str(QUEUES), '--log', log],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while not os.path.exists(path):
            if proc.poll() is not None or time.time() > deadline:
                print('1..0 # SKIP back-end did not start')
                return 0
            time.sleep(0.05)
        print('1..8', flush=True)
        c = Conn(path)
        features = c.call_u64(GET_FEATURES)
        c.send(SET_OWNER)
        c.send(SET_FEATURES, struct.pack(
            '<Q', features & (F_VERSION_1 | F_PROTOCOL_FEATURES)))
        pf = c.call_u64(GET_PROTOCOL_FEATURES)
        check(pf & PF_PRESTART and pf & PF_PRESTART_RINGS,
              'the back-end offers PRESTART and PRESTART_RINGS')
        c.send(SET_PROTOCOL_FEATURES,
               struct.pack('<Q', PF_PRESTART | PF_PRESTART_RINGS))
        check(c.call_u64(PRESTART, struct.pack('<Q', 1)) == 0,
              'PRESTART BEGIN accepted: the rings are held')

        bad = [
            ('a count over 32', start_rings([(0, RING_BASE, 0)], count=33)),
            ('a size that does not match the count',
             start_rings([(0, RING_BASE, 0)], pad=8)),
            ('a size shorter than its header', b'\1\0\0\0'),
            ('a ring index past the device\'s queues',
             start_rings([(0, RING_ENABLE, 0), (2 * QUEUES, RING_BASE, 0)])),
        ]
        for desc, payload in bad:
            check(c.call_u64(START_RINGS, payload) != 0,
                  'START_RINGS with %s is refused' % desc)
        check(proc.poll() is None and c.call_u64(GET_QUEUE_NUM) == QUEUES,
              'the back-end is still up and answers')
        ok = c.call_u64(START_RINGS, start_rings(
            [(i, RING_BASE | RING_ENABLE | RING_ENABLED, 0)
             for i in range(2 * QUEUES)]))
        check(ok == 0, 'a well-formed START_RINGS for all rings succeeds')
        c.s.close()
    except (OSError, EOFError, RuntimeError) as e:
        check(False, 'exchange with the back-end: %s' % e)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
    if not all(results):
        with open(log) as f:
            for line in f.read().splitlines()[-30:]:
                print('# ' + line)
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
