"""Kernel vhost-net rows: the destination back-end's start in the downtime.

The host has no /dev/vhost-net, so these rows run in a nested (L1) guest
(scripts/l1-run.sh: Debian's generic kernel under TCG, vhost_net and tun
loaded, the host's tree read over 9p).  One L1 boot runs every migration
of the rows: the series' qtest build/qemu/build/tests/qtest/
virtio-net-iterative-test (a libqos-driven virtio-net-pci at DRIVER_OK,
here on a multiqueue tap with vhost=on, live-migrated while the driver
changes its fields, then switched over), with QTEST_ITERATIVE_VHOST=

  on           the destination configures its vhost back-end during the
               live phase (vhost prestart); the test requires
               query-migrate's vhost-prestart "prestarted" at switchover;
  no-prestart  the destination's device has vhost-prestart=off (the test
               requires "declined"): the back-end is set up at vm_start()
               in full, as stock QEMU and the capability off do.

Both QEMUs run with -msg timestamp=on and the trace events below, so one
output holds both sides' timestamped lines.  The test starts the
destination (cont) after it compared the device's state on both sides,
the last migrations in its output, so the destination's back-end start
is the last burst of vhost_dev_start ... vhost_dev_started lines, after
the last vmstate_downtime_checkpoint line: from the first of them to the
last, per migration, in us (one vhost device per queue pair; the
VHOST_NET_SET_BACKEND of each, which both modes do at the start, is not
included).  The qtest always enables the virtio-iterative capability;
"no-prestart" stands for stock and off, whose vhost start is the same
full vhost_net_start().  Guest-visible downtime needs a guest: see the
vhost-user rows.

Under two levels of TCG (the host runs L1 under TCG, L1 runs the qtest
accelerator) every ioctl is slow; the ratio between the two modes is
what these rows are for, not the absolute figures.

With --vdpa DEVICE the same is measured on vhost-vdpa: the L1 guest boots
the newest generic kernel (bookworm-backports' 6.12, which has VDUSE and
vhost-vdpa), and each side of the qtest's no-change case gets a VDUSE
network device (tests/vduse-net-test-device) that takes 200 ms to set
up, either when the driver sets FEATURES_OK or at DRIVER_OK, with
QTEST_ITERATIVE_VHOST=vdpa (the prestart) or vdpa-no-prestart.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

MODES = ('no-prestart', 'on')
PATH = '/x86_64/virtio-net-iterative/queues-{n}'
BUILTIN_QUEUES = (1, 4)
TRACE = ('vmstate_downtime_checkpoint -trace vhost_dev_start '
         '-trace vhost_dev_started -msg timestamp=on')
MARK = 'VHOSTNET-JSON: '
VDPA_MODES = ('vdpa-no-prestart', 'vdpa')
VDPA_PLACES = ('features', 'start')
VDPA_DELAY_MS = 200
VDPA_PATH = '/x86_64/virtio-net-iterative/no-change'


def backend_start_us(output):
    """The destination's vhost start in a test's output, in us (see
    above), or None."""
    from bench import TS_RE

    first = last = None
    for m in TS_RE.finditer(output):
        event = m.group(2)
        if event == 'vmstate_downtime_checkpoint':
            first = last = None
        elif event == 'vhost_dev_start' and first is None:
            first = datetime.datetime.fromisoformat(m.group(1))
        elif event == 'vhost_dev_started' and first is not None:
            last = datetime.datetime.fromisoformat(m.group(1))
    if first is None or last is None:
        return None
    return int((last - first).total_seconds() * 1e6)


def run_once(test, qemu, mode, queue_pairs, timeout=300, extra_env=None,
             path=None):
    """One migration in the L1 guest: the destination's vhost start, us"""

    work = tempfile.mkdtemp(prefix='iterative-vhostnet-')
    try:
        cwd = os.path.join(work, 'cwd')     # empty: sh -c keeps the globs
        os.mkdir(cwd)
        env = dict(os.environ, QTEST_QEMU_BINARY=qemu,
                   QTEST_ITERATIVE_VHOST=mode, QTEST_TRACE=TRACE,
                   TMPDIR=work)
        env.pop('QTEST_LOG', None)
        env.pop('QTEST_ITERATIVE_QUEUES', None)
        if queue_pairs not in BUILTIN_QUEUES:
            env['QTEST_ITERATIVE_QUEUES'] = str(queue_pairs)
        env.update(extra_env or {})
        cmd = [os.path.abspath(test), '-p',
               path or PATH.format(n=queue_pairs)]
        proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout,
                              universal_newlines=True)
        out = proc.stdout
        if proc.returncode != 0 or 'SKIP' in out:
            raise RuntimeError('%s (%s): status %d: %s' % (
                ' '.join(cmd), mode, proc.returncode, out.strip()[-400:]))
        return backend_start_us(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(case, args, mode, qp, **kw):
    """args.warmup + args.runs migrations into @case"""
    for i in range(args.warmup + args.runs):
        try:
            r = run_once(args.test, args.qemu, mode, qp, **kw)
        except Exception as e:      # noqa: B902 - reported
            case['failed'] += 1
            case['error'] = str(e)[-300:]
            continue
        if i >= args.warmup and r is not None:
            case['backend_start_us'].append(r)


def inner_vdpa(args):
    """In the L1 guest: the vhost-vdpa cases, one JSON line on stdout."""
    result = {'modes': list(VDPA_MODES), 'delay_ms': VDPA_DELAY_MS,
              'cases': []}
    for place in VDPA_PLACES:
        env = {'QTEST_VDUSE_NET_DEVICE': args.vdpa,
               'QTEST_VDUSE_NET_ARGS': '--delay-ms %d --delay-on %s' % (
                   VDPA_DELAY_MS, place)}
        for mode in VDPA_MODES:
            case = {'mode': mode, 'delay_on': place, 'queue_pairs': 1,
                    'backend_start_us': [], 'failed': 0, 'error': None}
            measure(case, args, mode, 1, extra_env=env, path=VDPA_PATH)
            print('vdpa %s %s: %d runs, %d failed' % (
                mode, place, len(case['backend_start_us']), case['failed']),
                file=sys.stderr, flush=True)
            result['cases'].append(case)
    print(MARK + json.dumps(result), flush=True)


def inner(args):
    """In the L1 guest: every migration, one JSON line on stdout."""
    if args.vdpa:
        inner_vdpa(args)
        return
    result = {'modes': list(MODES), 'cases': []}
    for qp in args.queue_pairs:
        for mode in MODES:
            case = {'mode': mode, 'queue_pairs': qp, 'backend_start_us': [],
                    'failed': 0, 'error': None}
            measure(case, args, mode, qp)
            print('vhost-net %s %d qp: %d runs, %d failed' % (
                mode, qp, len(case['backend_start_us']), case['failed']),
                file=sys.stderr, flush=True)
            result['cases'].append(case)
    print(MARK + json.dumps(result), flush=True)


def run(top, qemu, test, queue_pairs, runs, warmup=1, timeout=3000,
        vdpa=None):
    """On the host: boot the L1 guest once and run every migration there
    (@vdpa: the vhost-vdpa cases on this VDUSE test device instead).
    Returns inner()'s result, or {'pending': reason} when the L1 guest
    cannot run (no kernel package, ...)."""
    cmd = [os.path.join(top, 'scripts', 'l1-run.sh'),
           '--timeout', str(timeout), '--env', 'PYTHONPATH', '--',
           sys.executable, os.path.abspath(__file__), '--inner',
           '--qemu', os.path.abspath(qemu), '--test', os.path.abspath(test),
           '--runs', str(runs), '--warmup', str(warmup),
           '--queue-pairs', ','.join(str(q) for q in queue_pairs)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.abspath(__file__)),
         os.path.join(top, 'pylib')]))
    if vdpa:
        if not os.access(vdpa, os.X_OK):
            return {'pending': '%s not built' % vdpa}
        cmd += ['--vdpa', os.path.abspath(vdpa)]
        env.update(L1_KERNEL='newest', L1_MODULES='vduse vhost_vdpa')
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=timeout + 120)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return {'pending': 'L1 guest: status %d: %s' % (
        proc.returncode, proc.stdout.strip()[-400:])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--inner', action='store_true', required=True)
    ap.add_argument('--qemu', required=True)
    ap.add_argument('--test', required=True)
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--queue-pairs', default='1,4',
                    type=lambda s: [int(x) for x in s.split(',')])
    ap.add_argument('--vdpa', metavar='DEVICE',
                    help='the vhost-vdpa cases on this VDUSE test device')
    inner(ap.parse_args())


if __name__ == '__main__':
    main()
