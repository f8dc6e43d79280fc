#!/usr/bin/python3
"""Benchmark iterative device migration: downtime and per-device
switchover cost vs. queue pairs, for stock QEMU and the patched build with
the virtio-iterative capability off and on.

Matrix: mode {baseline, off, on} x datapath {userspace (multi-queue tap),
vhost-user (test backend, 0 and 200 ms setup latency)} x queue pairs, and a
realistic VM (datapath "vm": virtio-net with 4 queue pairs on a tap,
virtio-blk, virtio-scsi with one disk, virtconsole, virtio-balloon and
virtio-rng, all driven by the guest's drivers) whose per-device switchover
save and load costs and their sum (virtio_total_us) are recorded.
For every (datapath, latency, queue pairs) group one guest per mode is
booted (demo/mk-guest.sh, 1 vCPU TCG, `ethtool -L eth0 combined N`) and
then ping-pong migrated between two taps, the modes interleaved migration
by migration (and the order rotated each round) so that machine noise hits
all of them; the first round(s) are warm-ups and are not counted.  All
traffic stays inside a private network namespace (bench/netns.py).

The userspace groups have a fourth mode, "none": the capability on and
the device opted out (iterative-migration=off), so that nothing takes
part; with "off" and "baseline" it shows what the series costs a
migration where no device participates (total migration time).

Per migration it records the downtime as the guest sees it (from the
source's src-downtime-start checkpoint to the destination's
dst-precopy-bh-vm-started, both QEMUs' timestamped trace lines on this
host's wall clock), query-migrate's downtime (which ends when the source
has sent everything, before the destination loads and starts the
devices), query-migrate's total migration time, the virtio-net save and
load cost at switchover (vmstate_downtime_* trace events), the destination vhost backend start (vhost-user only: from the
first vhost_dev_start to the end of vm_start on the destination, from
timestamped trace lines), the size of the virtio-net section at switchover
(once per case: the first migration goes through a recording relay and
the section is measured in the stream) and the largest gap the guest's UDP probe
saw.  A device-level microbenchmark (bench/microbench.py, qtest, no guest)
adds the per-device cost at up to 64 queue pairs when its test exists.

Writes OUT/summary.json, OUT/summary.md and OUT/*.png (bench/report.py).
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import microbench
import report
import vhostnet
from netns import GATEWAY, RESPONDER_PORT, Namespace
from iterative.vm import (VM_DEVICES, Vm, device_costs, final_bytes,
                          migrate, probe_gaps, read, trace_us, vm_device_args)

HERE = os.path.dirname(os.path.abspath(__file__))

MODES = ('baseline', 'off', 'on')
# userspace groups only: capability on, the device opted out
NONE_MODE = 'none'
HOST_ID = {'baseline': 11, 'off': 12, 'on': 13, 'none': 14}  # IP/MAC
ITERATIVE_CAP = {'on': ['virtio-iterative'], 'none': ['virtio-iterative']}
TRACE = Vm.TRACE + ('iterative_device_load',
                    'iterative_device_prepare_failed',
                    'vmstate_downtime_checkpoint', 'vhost_dev_start',
                    'vhost_dev_start_prestarted', 'virtio_vhost_prestart',
                    'vhost_user_prestart') + tuple(
    e for e in os.environ.get('BENCH_TRACE', '').split(',') if e)
VM_QUEUE_PAIRS = 4
BACKEND_ARGS = '--socket-path {socket} --queues {queues} --tap {tap} ' \
               '--delay-ms {delay} --log {log}'


class Case:
    """One cell of the matrix: what summary.json calls a case."""

    def __init__(self, mode, datapath, delay_ms, queue_pairs, target_runs):
        self.mode = mode
        self.target_runs = target_runs  # measured runs wanted
        self.datapath = datapath
        self.delay_ms = delay_ms
        self.queue_pairs = queue_pairs
        self.runs = []              # one dict per measured migration
        self.status = 'measured'
        self.note = None
        self.dev_bytes = None       # virtio-net section at switchover, bytes

    @property
    def group(self):
        return (self.datapath, self.delay_ms, self.queue_pairs)


class Backend:
    """The vhost-user test backend serving one QEMU, in the namespace."""

    def __init__(self, args, ns, workdir, name, queues, tap, delay_ms):
        self.socket = os.path.join(workdir, name + '.vhost')
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        argv = args.vhost_backend_args.format(
            socket=self.socket, queues=queues, tap=tap, delay=delay_ms,
            log=os.path.join(workdir, name + '.vulog'))
        self.log = os.path.join(workdir, name + '.backend')
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen(
                ns.prefix + [args.vhost_backend] + argv.split(),
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise RuntimeError('%s: vhost-user backend did not start: %s'
                                   % (name, read(self.log).strip()[-300:]))
            time.sleep(0.05)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Relay:
    """socat between the source and the destination's migration socket,
    recording the source's stream (socat -r) to measure a section in it."""

    def __init__(self, target):
        self.socket = target + '.relay'
        self.dump = target + '.stream'
        for path in (self.socket, self.dump):
            if os.path.exists(path):
                os.unlink(path)
        self.proc = subprocess.Popen(
            ['socat', '-r', self.dump, 'UNIX-LISTEN:' + self.socket,
             'UNIX-CONNECT:' + target], stderr=subprocess.DEVNULL)
        deadline = time.time() + 5
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError('socat relay did not start')
            time.sleep(0.02)

    def section_bytes(self):
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            return None
        with open(self.dump, 'rb') as f:
            return section_bytes(f.read())

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for path in (self.socket, self.dump):
            if os.path.exists(path):
                os.unlink(path)


class Guest:
    """One mode's guest in one group, ping-ponged between two taps."""

    def __init__(self, args, ns, workdir, mode, datapath, delay_ms, qp):
        self.args, self.ns, self.workdir = args, ns, workdir
        self.mode, self.datapath, self.delay_ms, self.qp = \
            mode, datapath, delay_ms, qp
        self.binary = args.baseline if mode == 'baseline' else args.patched
        tag = 'it%s%d%s' % (mode[:2], datapath == 'vhost-user',
                            'm' if qp > 1 else 's')
        # QEMU's tap netdev wants a single-queue tap for one queue pair;
        # the vhost-user backend always attaches with IFF_MULTI_QUEUE
        mq = qp > 1 or datapath == 'vhost-user'
        self.taps = [ns.tap(tag + 'a', mq), ns.tap(tag + 'b', mq)]
        self.seq = 0
        self.src = self.src_backend = None
        self.src, self.src_backend = self._start(incoming=False)

    def _name(self):
        self.seq += 1
        return '%s-%s%d-q%d-%d' % (self.mode, self.datapath, self.delay_ms,
                                   self.qp, self.seq)

    def _start(self, incoming):
        """Start a QEMU (+ backend) on the tap the current source does not
        use; returns (vm, backend)."""
        name = self._name()
        tap = self.taps[self.seq % 2]
        qp, host = self.qp, HOST_ID[self.mode]
        guest = os.path.abspath(self.args.guest)
        append = ('console=ttyS0 quiet probe.port=%d probe.interval=10 '
                  'net.addr=10.0.2.%d/24 net.gw=%s' %
                  (RESPONDER_PORT, host, GATEWAY))
        if qp > 1:
            append += ' net.queues=%d' % qp
        if self.datapath == 'vm':
            append += ' guest.devices=all'
        dev = 'virtio-net-pci,netdev=n0,mac=52:54:00:12:34:%02x' % host
        if self.mode == NONE_MODE:
            dev += ',iterative-migration=off'
        if qp > 1:
            dev += ',mq=on,vectors=%d' % (2 * qp + 2)
        argv = ['-kernel', os.path.join(guest, 'vmlinuz'),
                '-initrd', os.path.join(guest, 'initrd.gz'),
                '-append', append, '-device', dev]
        backend = None
        if self.datapath == 'vm':
            argv += vm_device_args()
        if self.datapath in ('userspace', 'vm'):
            argv += ['-netdev', 'tap,id=n0,ifname=%s,script=no,downscript=no,'
                     'queues=%d' % (tap, qp)]
        else:
            backend = Backend(self.args, self.ns, self.workdir, name, qp, tap,
                              self.delay_ms)
            argv += ['-object', 'memory-backend-memfd,id=mem,size=256M,'
                     'share=on', '-machine', 'memory-backend=mem',
                     '-chardev', 'socket,id=c0,path=' + backend.socket,
                     '-netdev', 'vhost-user,id=n0,chardev=c0,queues=%d' % qp]
        if incoming:
            argv += ['-incoming', 'defer']
        try:
            vm = Vm(self.binary, self.workdir, name, argv,
                    prefix=self.ns.prefix, trace=TRACE, timestamps=True)
        except Exception:
            if backend:
                backend.close()
            raise
        return vm, backend

    def wait_booted(self, timeout):
        m = self.src.wait_serial(r'guest: up.*?, (\d+) queue pairs, '
                                 r'(\d+) virtio devices bound', timeout)
        if int(m.group(1)) != self.qp:
            raise RuntimeError('%s: guest has %s queue pairs, wanted %d' % (
                self.src.name, m.group(1), self.qp))
        want = len(VM_DEVICES) if self.datapath == 'vm' else 1
        if int(m.group(2)) != want:
            raise RuntimeError('%s: guest drives %s virtio devices, wanted '
                               '%d' % (self.src.name, m.group(2), want))
        self.src.wait_serial(r'probe: started', timeout)

    def migrate(self, record=False):
        """Migrate the current source to a new destination, which becomes
        the source; returns the figures of this migration.  With `record`
        the stream goes through a recording relay (socat -r) and the size
        of the virtio-net section at switchover is measured in it."""
        dst, dst_backend = self._start(incoming=True)
        src, src_backend = self.src, self.src_backend
        sock = os.path.join(self.workdir, 'mig-%s.sock' % self.mode)
        relay = None
        try:
            src_uri = None
            if record:
                relay = Relay(sock)
                src_uri = 'unix:' + relay.socket
            info = migrate(src, dst, 'unix:' + sock,
                           ITERATIVE_CAP.get(self.mode, []),
                           params={'downtime-limit':
                                   self.args.downtime_limit},
                           src_uri=src_uri)
            gaps = probe_gaps(dst, settle=0.3)
            dst_trace = wait_trace(dst.trace, 'dst-precopy-bh-vm-started')
            r = {'downtime_ms': guest_downtime_ms(read(src.trace),
                                                  dst_trace),
                 'qmp_downtime_ms': info.get('downtime'),
                 'total_ms': info.get('total-time'),
                 'dev_save_us': trace_us(src.trace, 'vmstate_downtime_save'),
                 'dev_load_us': trace_us(dst.trace, 'vmstate_downtime_load'),
                 'backend_start_us': backend_start_us(dst_trace),
                 'final_record_bytes': final_bytes(info),
                 'full_reloads': dst_trace.count(
                     'iterative_device_prepare_failed'),
                 'probe_gap_ms': max(gaps) if gaps else None}
            if self.datapath == 'vm':
                r['devices'], r['virtio_total_us'] = device_costs(src.trace,
                                                                  dst.trace)
            if relay:
                r['switchover_dev_bytes'] = relay.section_bytes()
        except Exception:
            dst.close()
            if dst_backend:
                dst_backend.close()
            raise
        finally:
            if relay:
                relay.close()
            if os.path.exists(sock):
                os.unlink(sock)
        src.close()
        if src_backend:
            src_backend.close()
        self.src, self.src_backend = dst, dst_backend
        return r

    def close(self):
        if self.src:
            self.src.close()
        if self.src_backend:
            self.src_backend.close()


TS_RE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z? (\S+)(.*)$',
                   re.M)


def checkpoints(trace, name):
    """Wall-clock times (datetime) of the vmstate_downtime_checkpoint
    `name` lines of a timestamped trace log, in order."""
    return [datetime.datetime.fromisoformat(m.group(1))
            for m in TS_RE.finditer(trace)
            if m.group(2) == 'vmstate_downtime_checkpoint'
            and m.group(3).strip() == name]


def wait_trace(path, text, timeout=5):
    """The trace log at `path` once it contains `text` (or after
    `timeout` s): the destination logs its start in a bottom half that
    may run after the source reported the migration complete."""
    deadline = time.time() + timeout
    while True:
        trace = read(path)
        if text in trace or time.time() > deadline:
            return trace
        time.sleep(0.02)


def guest_downtime_ms(src_trace, dst_trace):
    """Downtime as the guest sees it, in ms: from the source's
    src-downtime-start (the source stops the VM) to the destination's
    dst-precopy-bh-vm-started (vm_start() returned: devices, including a
    vhost back-end, are running).  Both QEMUs run on this host with
    -msg timestamp=on, so their trace lines share the wall clock.  None
    if either checkpoint is missing."""
    start = checkpoints(src_trace, 'src-downtime-start')
    end = checkpoints(dst_trace, 'dst-precopy-bh-vm-started')
    if not start or not end:
        return None
    # a QEMU is a destination once, then a source once: the last stop of
    # the source, the first start of the destination after it
    after = [t for t in end if t >= start[-1]]
    if not after:
        return None
    return round((after[0] - start[-1]).total_seconds() * 1e3, 1)


def backend_start_us(trace):
    """Destination vhost backend start inside the downtime, in us: from the
    first vhost_dev_start after the incoming bottom half began to the end
    of vm_start (dst-precopy-bh-vm-started).  None without vhost."""
    start = end = None
    in_bh = False
    for m in TS_RE.finditer(trace):
        t = datetime.datetime.fromisoformat(m.group(1))
        event, rest = m.group(2), m.group(3)
        if event == 'vmstate_downtime_checkpoint':
            if 'dst-precopy-bh-enter' in rest:
                in_bh, start, end = True, None, None
            elif 'dst-precopy-bh-vm-started' in rest and in_bh:
                end, in_bh = t, False
        elif event == 'vhost_dev_start' and in_bh and start is None:
            start = t
    if start is None or end is None:
        return None
    return int((end - start).total_seconds() * 1e6)


def section_bytes(stream, device='virtio-net'):
    """Payload bytes of the first full section whose idstr ends in
    `device` in a migration stream (QEMU_VM_SECTION_FULL header: 0x04,
    be32 section id, u8 idstr length, idstr, be32 instance, be32 version;
    then the payload up to the QEMU_VM_SECTION_FOOTER 0x7e + section id)."""
    tail = ('/' + device).encode()
    pos = 0
    while True:
        end = stream.find(tail, pos)
        if end < 0:
            return None
        end += len(tail)
        pos = end
        for length in range(len(tail), min(256, end - 6)):
            start = end - length
            if stream[start - 1] == length and stream[start - 6] == 0x04:
                sid = stream[start - 5:start - 1]
                payload = end + 8
                foot = payload
                while True:
                    foot = stream.find(b'\x7e' + sid, foot)
                    if foot < 0:
                        break
                    nxt = stream[foot + 5:foot + 6]
                    if not nxt or nxt[0] <= 0x08:
                        return foot - payload
                    foot += 1


def fmt_eta(seconds):
    seconds = int(seconds)
    return '%d:%02d' % (seconds // 60, seconds % 60)


class Progress:
    """'[i/n elapsed, ETA] ...' lines on the terminal.  The ETA adds the
    mean migration time for the migrations left and the mean guest boot
    time for the groups left."""

    def __init__(self, migrations, groups):
        self.total, self.done, self.t0 = migrations, 0, time.time()
        self.groups, self.booted, self.boot_s, self.mig_s = groups, 0, 0., 0.
        self.last = self.t0

    def booted_group(self):
        now = time.time()
        self.booted += 1
        self.boot_s += now - self.last
        self.last = now

    def step(self, text):
        now = time.time()
        self.done += 1
        self.mig_s += now - self.last
        self.last = now
        eta = (self.mig_s / self.done * (self.total - self.done) +
               self.boot_s / max(1, self.booted) *
               (self.groups - self.booted))
        print('[%3d/%d %s, ETA %s] %s' % (self.done, self.total,
                                          fmt_eta(now - self.t0),
                                          fmt_eta(eta), text), flush=True)


def run_group(args, ns, workdir, cases, progress, label):
    """Boot one guest per mode, then ping-pong migrate them interleaved."""
    datapath, delay, qp = cases[0].group
    guests = {}
    try:
        for case in cases:
            guests[case.mode] = Guest(args, ns, workdir, case.mode, datapath,
                                      delay, qp)
        for g in guests.values():
            g.wait_booted(180)
        time.sleep(1.0)             # let the probes settle
        progress.booted_group()
        for rnd in range(-args.warmup, cases[0].target_runs):
            shift = rnd % len(cases)
            for case in cases[shift:] + cases[:shift]:
                # the first migration (a warm-up, unless there are none) goes
                # through the recording relay: it measures the section size
                record = rnd == -args.warmup
                r = guests[case.mode].migrate(record)
                if record:
                    case.dev_bytes = r.pop('switchover_dev_bytes')
                if rnd >= 0:
                    r['switchover_dev_bytes'] = case.dev_bytes
                    case.runs.append(r)
                progress.step('%s %-8s %s: downtime %s ms (query-migrate %s '
                              'ms), total %s ms, save %s us, load %s us, '
                              '%sgap %s ms%s' % (
                                  label, case.mode,
                                  'warm-up' if rnd < 0 else 'run %d' % rnd,
                                  r['downtime_ms'], r['qmp_downtime_ms'],
                                  r['total_ms'],
                                  r['dev_save_us'],
                                  r['dev_load_us'],
                                  'all virtio %s us, ' % r['virtio_total_us']
                                  if 'virtio_total_us' in r else '',
                                  r['probe_gap_ms'],
                                  ', FULL RELOAD' if r['full_reloads']
                                  else ''))
    except Exception as e:
        for case in cases:
            if len(case.runs) < case.target_runs:
                case.status, case.note = 'failed', str(e)
        print('%s: FAILED: %s' % (label, e), file=sys.stderr)
    finally:
        for g in guests.values():
            g.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--patched', required=True)
    ap.add_argument('--baseline', required=True)
    ap.add_argument('--guest', required=True, help='demo/mk-guest.sh output')
    ap.add_argument('--python', required=True, help="QEMU's python/ dir")
    ap.add_argument('--out', required=True, help='output directory')
    ap.add_argument('--quick', action='store_true',
                    help='1 and 4 queue pairs, 3 runs (a few minutes)')
    ap.add_argument('--runs', metavar='N|QP:N,...',
                    help='measured runs per case: N, or per queue pairs '
                    '(e.g. 1:10,4:10,16:5,32:5; a bare N is the default '
                    'for the others); default 10 (--quick: 3)')
    ap.add_argument('--downtime-limit', type=int, default=300,
                    metavar='MS',
                    help='the source\'s downtime-limit (default 300, as '
                    'QEMU\'s): RAM\'s switchover pass may take up to that '
                    'long, the first pass included')
    ap.add_argument('--warmup', type=int, default=1,
                    help='warm-up rounds per group (default 1)')
    ap.add_argument('--queue-pairs', help='comma list (default 1,4,16,32)')
    ap.add_argument('--vhost-queue-pairs',
                    help='queue pairs of the vhost-user cases (default: '
                    '--queue-pairs)')
    ap.add_argument('--vhost-net-queue-pairs', default='1,4',
                    help='queue pairs of the vhost-net rows (default 1,4)')
    ap.add_argument('--vhost-net-runs', type=int,
                    help='migrations per vhost-net case (default 10, '
                    'quick 3)')
    ap.add_argument('--datapaths',
                    default='userspace,vhost-user,vm,vhost-net,vdpa',
                    help='comma list of userspace, vhost-user, vm (the '
                    'realistic VM, %d queue pairs), vhost-net and vdpa '
                    '(nested guests)' % VM_QUEUE_PAIRS)
    ap.add_argument('--vdpa-device',
                    help='the VDUSE test device (default: next to the '
                    'qtest\'s directory, tests/vduse-net-test-device)')
    ap.add_argument('--backend-delays', default='0,200',
                    help='vhost-user backend setup latencies, ms')
    ap.add_argument('--vhost-backend', help='vhost-user test backend binary')
    ap.add_argument('--vhost-backend-args', default=BACKEND_ARGS,
                    help='its arguments (default "%(default)s")')
    ap.add_argument('--qtest', help='device microbenchmark qtest binary')
    ap.add_argument('--qtest-path', default=microbench.DEFAULT_PATH)
    ap.add_argument('--micro-queue-pairs', default='1,4,16,32,64')
    ap.add_argument('--micro-runs', type=int,
                    help='migrations per microbenchmark case (default 5, '
                    '--quick: 2)')
    ap.add_argument('--publish', metavar='FILE',
                    help='update the results section of FILE (between the '
                    'bench markers) and copy the table and plots next to '
                    'it (bench/results)')
    ap.add_argument('--keep', action='store_true',
                    help='keep the logs (BENCH_TRACE=event,... adds trace '
                    'events to them)')
    ap.add_argument('--json', metavar='FILE',
                    help='also write summary.json to FILE ("-": stdout), '
                    'to compare runs')
    args = ap.parse_args()
    sys.path.insert(0, args.python)
    runs_for = parse_runs(args.runs, 3 if args.quick else 10)
    qps = [int(q) for q in (args.queue_pairs or
                            ('1,4' if args.quick else '1,4,16,32')).split(',')]
    vhost_qps = [int(q) for q in args.vhost_queue_pairs.split(',')] \
        if args.vhost_queue_pairs else qps
    micro_qps = [int(q) for q in args.micro_queue_pairs.split(',')]
    if args.quick and args.micro_queue_pairs == '1,4,16,32,64':
        micro_qps = [1, 4]
    if args.micro_runs is None:
        args.micro_runs = 2 if args.quick else 5
    for b in (args.patched, args.baseline):
        if not os.access(b, os.X_OK):
            sys.exit('bench: %s: not found' % b)

    datapaths = [d for d in args.datapaths.split(',') if d]
    for dp in datapaths:
        if dp not in ('userspace', 'vhost-user', 'vm', 'vhost-net', 'vdpa'):
            sys.exit('bench: unknown datapath %s' % dp)
    # kernel vhost-net: in a nested guest, driven by the qtest
    with_vhost_net = 'vhost-net' in datapaths
    with_vdpa = 'vdpa' in datapaths
    datapaths = [d for d in datapaths if d not in ('vhost-net', 'vdpa')]
    if args.vhost_net_runs is None:
        args.vhost_net_runs = 3 if args.quick else 10
    backend_ok = bool(args.vhost_backend and
                      os.access(args.vhost_backend, os.X_OK))
    groups = []
    for dp in datapaths:
        delays = [int(d) for d in args.backend_delays.split(',')] \
            if dp == 'vhost-user' else [0]
        for delay in delays:
            modes = MODES if dp != 'userspace' else MODES + (NONE_MODE,)
            for qp in {'vhost-user': vhost_qps,
                       'vm': [VM_QUEUE_PAIRS]}.get(dp, qps):
                groups.append([Case(m, dp, delay, qp, runs_for(qp))
                               for m in modes])
    all_cases = [c for g in groups for c in g]
    runnable = [g for g in groups
                if g[0].datapath != 'vhost-user' or backend_ok]
    for g in groups:
        if g not in runnable:
            for c in g:
                c.status = 'pending'
                c.note = 'vhost-user test backend not built (%s)' % \
                    args.vhost_backend

    started = datetime.datetime.now(datetime.timezone.utc)
    runs_per_case = runs_summary(all_cases)
    print('bench: %d cases (%d to measure now), %s runs each after %d '
          'warm-up round(s); load average %.1f %.1f %.1f' % (
              (len(all_cases), sum(len(g) for g in runnable),
               report.fmt_runs(runs_per_case), args.warmup) +
              os.getloadavg()), flush=True)
    workdir = tempfile.mkdtemp(prefix='iterative-bench-')
    progress = Progress(sum(len(g) * (g[0].target_runs + args.warmup)
                            for g in runnable), len(runnable))
    try:
        with Namespace() as ns:
            for i, cases in enumerate(runnable):
                dp, delay, qp = cases[0].group
                label = '%d/%d %s%s %dqp' % (
                    i + 1, len(runnable), dp,
                    ' %dms' % delay if dp == 'vhost-user' else '', qp)
                run_group(args, ns, workdir, cases, progress, label)
        micro = run_microbench(args, micro_qps)
        vhost_net = run_vhost_net(args) if with_vhost_net else None
        vdpa = run_vdpa(args) if with_vdpa else None
    finally:
        if args.keep:
            print('logs in', workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    summary = report.summarize(all_cases, micro, runs_per_case, started,
                               time.time() - progress.t0, args.quick,
                               args.micro_runs, vhost_net, vdpa)
    os.makedirs(args.out, exist_ok=True)
    report.write(summary, args.out)
    print()
    print(report.markdown(summary))
    print('\nbench: wrote %s/summary.json, summary.md, *.png' % args.out)
    if args.json:
        report.write_json(summary, args.json)
    if args.publish:
        report.publish(summary, args.out, args.publish,
                       os.path.join(HERE, 'results'))
        print('bench: updated %s' % args.publish)
    failed = [c for c in all_cases if c.status == 'failed'] + \
        [m for m in micro if m['status'] == 'failed' or
         (m.get('samples') or {}).get('failed')] + \
        [c for c in (vhost_net or {}).get('cases', []) if c['failed']] + \
        [c for c in (vdpa or {}).get('cases', []) if c['failed']]
    if failed:
        print('bench: %d case(s) failed' % len(failed), file=sys.stderr)
    return 1 if failed else 0


def parse_runs(spec, default):
    """--runs: 'N' or 'QP:N,...' (a bare N sets the default) -> a
    function queue pairs -> measured runs."""
    per_qp = {}
    for item in (spec or '').split(','):
        item = item.strip()
        if not item:
            continue
        if ':' in item:
            qp, n = item.split(':', 1)
            per_qp[int(qp)] = int(n)
        else:
            default = int(item)
    return lambda qp: per_qp.get(qp, default)


def runs_summary(cases):
    """Measured runs per case for summary.json: an int when every case
    has the same, else {datapath: {queue pairs: runs}}."""
    targets = {c.target_runs for c in cases}
    if len(targets) == 1:
        return targets.pop()
    out = {}
    for c in cases:
        dp = c.datapath + (' %d ms' % c.delay_ms
                           if c.datapath == 'vhost-user' else '')
        out.setdefault(dp, {})[str(c.queue_pairs)] = c.target_runs
    return out


def run_microbench(args, qps):
    """The qtest microbenchmark (bench/microbench.py), or pending.  The
    test always enables virtio-iterative: only mode "on" is measured;
    baseline and off are "n/a" (the guest runs give off vs on)."""
    cases = []
    for qp in qps:
        for mode in MODES:
            c = {'mode': mode, 'queue_pairs': qp, 'status': 'pending',
                 'samples': None}
            if mode not in microbench.MODES:
                c['status'] = 'n/a'
                c['note'] = microbench.NO_OFF
                cases.append(c)
                continue
            try:
                samples = microbench.run_case(args.qtest, args.patched, qp,
                                              args.micro_runs,
                                              args.qtest_path)
                if samples is not None:
                    c['status'], c['samples'] = 'measured', samples
                    if samples['failed']:
                        c['note'] = '%d of %d runs failed' % (
                            samples['failed'], args.micro_runs)
                    print('microbench %-8s %2d qp: save %s us, load %s us%s'
                          % (mode, qp, samples['dev_save_us'],
                             samples['dev_load_us'],
                             ', %d runs FAILED' % samples['failed']
                             if samples['failed'] else ''), flush=True)
            except Exception as e:
                c['status'], c['note'] = 'failed', str(e)
                print('microbench %s %d qp: FAILED: %s' % (mode, qp, e),
                      file=sys.stderr)
            cases.append(c)
    if all(c['status'] in ('pending', 'n/a') for c in cases):
        print('microbench: pending (%s not built)' % args.qtest, flush=True)
    return cases


def run_vhost_net(args):
    """The kernel vhost-net rows (bench/vhostnet.py): one nested guest
    runs the qtest with and without the vhost prestart."""
    qps = [int(q) for q in args.vhost_net_queue_pairs.split(',')]
    if not args.qtest or not os.access(args.qtest, os.X_OK):
        return {'pending': 'qtest %s not built' % args.qtest}
    print('vhost-net: %d migrations in a nested guest (%s qp, %s)' % (
        len(qps) * len(vhostnet.MODES) * (args.vhost_net_runs + args.warmup),
        args.vhost_net_queue_pairs, ', '.join(vhostnet.MODES)), flush=True)
    result = vhostnet.run(os.path.dirname(HERE), args.patched, args.qtest,
                          qps, args.vhost_net_runs, args.warmup)
    return print_nested('vhost-net', result,
                        lambda c: '%-11s %2d qp' % (c['mode'],
                                                    c['queue_pairs']))


def print_nested(label, result, case_name):
    """Print bench/vhostnet.py's @result, case by case; return it."""
    if 'pending' in result:
        print('%s: pending: %s' % (label, result['pending']),
              file=sys.stderr)
    for c in result.get('cases', []):
        print('%s %s: backend start %s us%s' % (
            label, case_name(c), c['backend_start_us'],
            ', %d runs FAILED: %s' % (c['failed'], c['error'])
            if c['failed'] else ''), flush=True)
    return result


def run_vdpa(args):
    """The vhost-vdpa rows (bench/vhostnet.py --vdpa): one nested guest
    with Linux 6.12 runs the qtest on VDUSE test devices."""
    if not args.qtest or not os.access(args.qtest, os.X_OK):
        return {'pending': 'qtest %s not built' % args.qtest}
    device = args.vdpa_device or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(args.qtest))),
        'vduse-net-test-device')
    print('vdpa: %d migrations in a nested guest (%s)' % (
        len(vhostnet.VDPA_PLACES) * len(vhostnet.VDPA_MODES) *
        (args.vhost_net_runs + args.warmup), ', '.join(vhostnet.VDPA_MODES)),
        flush=True)
    result = vhostnet.run(os.path.dirname(HERE), args.patched, args.qtest,
                          [1], args.vhost_net_runs, args.warmup, vdpa=device)
    return print_nested('vdpa', result,
                        lambda c: '%-16s set-up at %-8s' % (c['mode'],
                                                            c['delay_on']))


if __name__ == '__main__':
    sys.exit(main())
