#!/usr/bin/python3
"""Live-migrate a small guest three ways and show what the feature buys.

Modes, interleaved run by run so that machine noise hits all of them:
  baseline  stock QEMU 10.2.2 (Debian's source, no patches)
  off       the patched build, capability virtio-iterative off
  on        the patched build, capability virtio-iterative on

The guest (demo/mk-guest.sh) runs a UDP request/response probe every
10 ms against a responder on the host (through slirp, on 127.0.0.1), and
reports every gap in the answers on its serial console.  For each run the
demo records the total downtime (query-migrate), the virtio-net save and
load time at switchover (vmstate_downtime_* trace events), and the largest
gap the guest saw.  QMP goes through QEMU's own python/qemu/qmp library.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MODES = ('baseline', 'off', 'on')


class Responder(threading.Thread):
    """UDP echo on 127.0.0.1; the guest reaches it as 10.0.2.2 via slirp."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]
        self.count = 0

    def run(self):
        while True:
            data, addr = self.sock.recvfrom(2048)
            self.count += 1
            self.sock.sendto(data, addr)


class Vm:
    def __init__(self, binary, workdir, name, args):
        self.name = name
        self.serial = os.path.join(workdir, name + '.serial')
        self.trace = os.path.join(workdir, name + '.trace')
        self.qmp_path = os.path.join(workdir, name + '.qmp')
        cmd = [binary, '-machine', 'q35', '-m', '256', '-smp', '1',
               '-display', 'none', '-nodefaults', '-no-user-config',
               '-serial', 'file:' + self.serial,
               '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
               '-trace', 'vmstate_downtime_save',
               '-trace', 'vmstate_downtime_load',
               '-trace', 'iterative_device_save',
               '-D', self.trace] + args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(
                                         workdir, name + '.stderr'), 'w'))
        deadline = time.time() + 20
        while not os.path.exists(self.qmp_path):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError('%s: QEMU did not start' % name)
            time.sleep(0.05)
        from qemu.qmp.legacy import QEMUMonitorProtocol
        self.qmp = QEMUMonitorProtocol(self.qmp_path)
        self.qmp.connect()

    def cmd(self, name, **args):
        return self.qmp.cmd(name, **args)

    def wait_serial(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, read(self.serial)):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError('%s: no "%s" on the serial console' %
                           (self.name, pattern))

    def close(self):
        try:
            self.qmp.cmd('quit')
            self.qmp.close()
        except Exception:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def read(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def trace_us(path, event, device='virtio-net'):
    total = None
    for m in re.finditer(r'%s type=\S+ idstr=(\S+) instance_id=\d+ '
                         r'downtime=(\d+)' % event, read(path)):
        if device in m.group(1):
            total = (total or 0) + int(m.group(2))
    return total


def final_bytes(path):
    """Size of the iterative switchover record (feature on only)"""
    m = re.findall(r'iterative_device_save \S+: final generation \d+, '
                   r'\d+ fields, (\d+) bytes', read(path))
    return int(m[-1]) if m else None


def migrate_once(mode, args, responder, workdir):
    binary = args.baseline if mode == 'baseline' else args.patched
    guest = ['-kernel', os.path.join(args.guest, 'vmlinuz'),
             '-initrd', os.path.join(args.guest, 'initrd.gz'),
             '-append', 'console=ttyS0 quiet probe.port=%d probe.interval=10'
             % responder.port,
             '-netdev', 'user,id=n0',
             '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56']
    sock = os.path.join(workdir, 'mig.sock')
    src = dst = None
    try:
        src = Vm(binary, workdir, 'src-' + mode, guest)
        src.wait_serial(r'probe: started', 90)
        time.sleep(1.0)         # let the probe settle
        dst = Vm(binary, workdir, 'dst-' + mode, guest + ['-incoming', 'defer'])
        caps = [{'capability': 'events', 'state': True}]
        if mode == 'on':
            caps.append({'capability': 'virtio-iterative', 'state': True})
        for vm in (src, dst):
            vm.cmd('migrate-set-capabilities', capabilities=caps)
        dst.cmd('migrate-incoming', uri='unix:' + sock)
        src.cmd('migrate-set-parameters', **{'downtime-limit': 300})
        src.cmd('migrate', uri='unix:' + sock)
        deadline = time.time() + 120
        while True:
            info = src.cmd('query-migrate')
            if info.get('status') == 'completed':
                break
            if info.get('status') in ('failed', 'cancelled'):
                raise RuntimeError('%s: migration %s: %s' % (
                    mode, info['status'], info.get('error-desc', '')))
            if time.time() > deadline:
                raise RuntimeError('%s: migration did not complete' % mode)
            time.sleep(0.05)
        # the first answer after the switchover reports the gap
        deadline = time.time() + 10
        gaps = []
        while time.time() < deadline:
            gaps = [float(g) for g in
                    re.findall(r'probe: gap_ms=([\d.]+)', read(dst.serial))]
            if gaps:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        gaps = [float(g) for g in
                re.findall(r'probe: gap_ms=([\d.]+)', read(dst.serial))]
        return {
            'downtime_ms': info.get('downtime'),
            'total_ms': info.get('total-time'),
            'dev_save_us': trace_us(src.trace, 'vmstate_downtime_save'),
            'dev_load_us': trace_us(dst.trace, 'vmstate_downtime_load'),
            'final_bytes': final_bytes(src.trace),
            'probe_gap_ms': max(gaps) if gaps else None,
        }
    finally:
        for vm in (src, dst):
            if vm:
                vm.close()
        if os.path.exists(sock):
            os.unlink(sock)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, unit=''):
    if v is None:
        return 'n/a'
    return ('%.1f' % v if isinstance(v, float) else str(v)) + unit


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--patched', required=True)
    ap.add_argument('--baseline', required=True)
    ap.add_argument('--guest', required=True)
    ap.add_argument('--python', required=True, help="QEMU's python/ dir")
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--keep', action='store_true', help='keep the logs')
    args = ap.parse_args()
    sys.path.insert(0, args.python)

    responder = Responder()
    responder.start()
    workdir = tempfile.mkdtemp(prefix='iterative-demo-')
    results = {m: [] for m in MODES}
    n = args.runs * len(MODES)
    i = 0
    t0 = time.time()
    try:
        for run in range(args.runs):
            for mode in MODES:
                i += 1
                r = migrate_once(mode, args, responder, workdir)
                results[mode].append(r)
                print('[%2d/%d] %-8s downtime %s, virtio-net save %s load %s, '
                      'largest probe gap %s  (%.0fs)' % (
                          i, n, mode, fmt(r['downtime_ms'], ' ms'),
                          fmt(r['dev_save_us'], ' us'),
                          fmt(r['dev_load_us'], ' us'),
                          fmt(r['probe_gap_ms'], ' ms'), time.time() - t0),
                      flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print('logs in', workdir)

    cols = [('total downtime', 'downtime_ms', ' ms'),
            ('virtio-net save at switchover', 'dev_save_us', ' us'),
            ('virtio-net load at switchover', 'dev_load_us', ' us'),
            ('dest. vhost start in downtime', None, ''),
            ('iterative record after stop', 'final_bytes', ' B'),
            ('largest probe gap (guest)', 'probe_gap_ms', ' ms')]
    print('\nMedian of %d runs per mode; 1 vCPU TCG guest, virtio-net on '
          'slirp (userspace datapath)\n' % args.runs)
    print('| %-30s | %10s | %10s | %10s |' % (('',) + MODES))
    print('|%s|%s|%s|%s|' % ('-' * 32, '-' * 12, '-' * 12, '-' * 12))
    for title, key, unit in cols:
        vals = [fmt(median([r[key] for r in results[m]]) if key else None, unit)
                for m in MODES]
        print('| %-30s | %10s | %10s | %10s |' % ((title,) + tuple(vals)))
    print('\nThe record after stop excludes ring indices (4 B per queue) '
          'and tx_waiting;\nvhost start: n/a until the vhost quickstart is '
          'in the series (userspace datapath here).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
