#!/usr/bin/python3
"""Live-migrate a small guest three ways and show what the feature buys.

Modes, interleaved run by run so that machine noise hits all of them:
  baseline  stock QEMU 10.2.2 (Debian's source, no patches)
  off       the patched build, capability virtio-iterative off
  on        the patched build, capability virtio-iterative on

The guest (demo/mk-guest.sh) has the virtio devices of a realistic VM
(virtio-net on slirp, virtio-blk, virtio-scsi with a disk, virtconsole,
virtio-balloon, virtio-rng; its drivers run them all).  It runs a UDP
request/response probe every 10 ms against a responder on the host
(through slirp, on 127.0.0.1), and reports every gap in the answers on its
serial console.  For each run the demo records the total downtime
(query-migrate), each virtio device's save and load time at switchover
(vmstate_downtime_* trace events) and their sum, and the largest gap the
guest saw.  QMP goes through QEMU's own python/qemu/qmp library.

Then, when the vhost-user test back-end is built and we are root (it runs
in a private network namespace), the same three modes with virtio-net on
a vhost-user back-end that takes 200 ms to set its device up (what DPDK
device start costs), through bench/bench.py: the downtime, the
destination back-end's start inside it, and the largest probe gap.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from iterative.vm import (VM_DEVICES, Responder, Vm, device_costs,
                          final_bytes, fmt, median, migrate, probe_gaps,
                          trace_us, vm_device_args)

MODES = ('baseline', 'off', 'on')
HERE = os.path.dirname(os.path.abspath(__file__))
VHOST_DELAY_MS = 200


def vhost_user_case(args, workdir):
    """The vhost-user case through bench/bench.py: {mode: summary case},
    or a string saying why it did not run."""
    if not args.vhost_backend or not os.access(args.vhost_backend, os.X_OK):
        return 'the vhost-user test back-end is not built'
    if os.geteuid() != 0:
        return 'needs root (a private network namespace)'
    out = os.path.join(workdir, 'vhost-user')
    summary = os.path.join(out, 'demo.json')
    cmd = [sys.executable, os.path.join(HERE, '..', 'bench', 'bench.py'),
           '--patched', args.patched, '--baseline', args.baseline,
           '--guest', args.guest, '--python', args.python,
           '--vhost-backend', args.vhost_backend, '--out', out,
           '--json', summary, '--datapaths', 'vhost-user',
           '--backend-delays', str(VHOST_DELAY_MS), '--vhost-queue-pairs',
           '1', '--runs', str(args.runs), '--micro-queue-pairs', '1']
    print('\nvhost-user, %d ms back-end set-up, 1 queue pair (bench/bench.py)'
          % VHOST_DELAY_MS, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    for line in proc.stdout.splitlines():
        if line.startswith('[') and 'vhost-user' in line:
            print('  ' + line.split('] ', 1)[-1], flush=True)
    if not os.path.exists(summary):
        return 'bench/bench.py failed (%d): %s' % (
            proc.returncode, proc.stdout.strip()[-300:])
    with open(summary) as f:
        cases = json.load(f)['cases']
    return {c['mode']: c for c in cases if c['datapath'] == 'vhost-user'
            and c['status'] == 'measured'}


def migrate_once(mode, args, responder, workdir):
    binary = args.baseline if mode == 'baseline' else args.patched
    guest = ['-kernel', os.path.join(args.guest, 'vmlinuz'),
             '-initrd', os.path.join(args.guest, 'initrd.gz'),
             '-append', 'console=ttyS0 quiet probe.port=%d probe.interval=10 '
             'guest.devices=all' % responder.port,
             '-netdev', 'user,id=n0',
             '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56'] + \
        vm_device_args()
    sock = os.path.join(workdir, 'mig.sock')
    src = dst = None
    try:
        src = Vm(binary, workdir, 'src-' + mode, guest)
        src.wait_serial(r'probe: started', 90)
        time.sleep(1.0)         # let the probe settle
        dst = Vm(binary, workdir, 'dst-' + mode, guest + ['-incoming', 'defer'])
        info = migrate(src, dst, 'unix:' + sock,
                       ['virtio-iterative'] if mode == 'on' else [])
        gaps = probe_gaps(dst)
        devices, total = device_costs(src.trace, dst.trace)
        return {
            'devices': devices,
            'virtio_total_us': total,
            'downtime_ms': info.get('downtime'),
            'total_ms': info.get('total-time'),
            'dev_save_us': trace_us(src.trace, 'vmstate_downtime_save'),
            'dev_load_us': trace_us(dst.trace, 'vmstate_downtime_load'),
            'final_bytes': final_bytes(info),
            'probe_gap_ms': max(gaps) if gaps else None,
        }
    finally:
        for vm in (src, dst):
            if vm:
                vm.close()
        if os.path.exists(sock):
            os.unlink(sock)


def plot(results, tot, path):
    """Medians per mode: downtime, largest probe gap, and the virtio
    devices' switchover save + load"""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    x = range(len(MODES))
    for key, label, off in (('downtime_ms', 'downtime', -0.2),
                            ('probe_gap_ms', 'largest probe gap', 0.2)):
        axes[0].bar([i + off for i in x],
                    [median([r[key] for r in results[m]]) or 0
                     for m in MODES], width=0.4, label=label)
    axes[0].set_xticks(list(x), MODES)
    axes[0].set_ylabel('ms (median)')
    axes[0].legend(fontsize=8)
    axes[0].set_title('Downtime and what the guest saw', fontsize=10)
    axes[1].bar(list(x), [tot[m] or 0 for m in MODES],
                color=['C0', 'C1', 'C2'])
    axes[1].set_xticks(list(x), MODES)
    axes[1].set_yscale('log')
    axes[1].set_ylabel('us (median, log scale)')
    axes[1].set_title('All virtio devices: save + load at switchover',
                      fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--patched', required=True)
    ap.add_argument('--baseline', required=True)
    ap.add_argument('--guest', required=True)
    ap.add_argument('--python', required=True, help="QEMU's python/ dir")
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--vhost-backend',
                    help='vhost-user test back-end (adds the vhost-user case)')
    ap.add_argument('--keep', action='store_true', help='keep the logs')
    ap.add_argument('--json', metavar='FILE',
                    help='also write every run and the medians as JSON')
    ap.add_argument('--png', metavar='FILE',
                    help='also plot the medians (matplotlib)')
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
                      'all virtio devices %s, largest probe gap %s  (%.0fs)'
                      % (i, n, mode, fmt(r['downtime_ms'], ' ms'),
                         fmt(r['dev_save_us'], ' us'),
                         fmt(r['dev_load_us'], ' us'),
                         fmt(r['virtio_total_us'], ' us'),
                         fmt(r['probe_gap_ms'], ' ms'), time.time() - t0),
                      flush=True)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise

    cols = [('total downtime', 'downtime_ms', ' ms'),
            ('virtio-net save at switchover', 'dev_save_us', ' us'),
            ('virtio-net load at switchover', 'dev_load_us', ' us'),
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
    print('\nEach virtio device at switchover, save + load (median):\n')
    print('| %-30s | %10s | %10s | %10s |' % (('',) + MODES))
    print('|%s|%s|%s|%s|' % ('-' * 32, '-' * 12, '-' * 12, '-' * 12))

    def cost(r, name):
        d = r['devices'].get(name, {})
        if d.get('save_us') is None and d.get('load_us') is None:
            return None
        return (d.get('save_us') or 0) + (d.get('load_us') or 0)
    for name, _, _ in VM_DEVICES:
        vals = [fmt(median([cost(r, name) for r in results[m]]), ' us')
                for m in MODES]
        print('| %-30s | %10s | %10s | %10s |' % ((name,) + tuple(vals)))
    tot = {m: median([r['virtio_total_us'] for r in results[m]])
           for m in MODES}
    print('| %-30s | %10s | %10s | %10s |' % (
        ('all virtio devices',) + tuple(fmt(tot[m], ' us') for m in MODES)))
    base, on = (median([r['downtime_ms'] for r in results[m]])
                for m in ('baseline', 'on'))
    if base and on:
        print('\nWith virtio-iterative on, the downtime was %s against %s '
              'for stock QEMU (%.0f %% %s), and the virtio devices\' '
              'switchover save + load %s against %s (%.1f %% of stock\'s).'
              % (fmt(on, ' ms'), fmt(base, ' ms'),
                 100.0 * abs(1 - on / base), 'less' if on <= base else 'more',
                 fmt(tot['on'], ' us'), fmt(tot['baseline'], ' us'),
                 100.0 * tot['on'] / tot['baseline']
                 if tot['baseline'] else 0))
    vu = vhost_user_case(args, workdir)
    if isinstance(vu, str):
        print('\nvhost-user case skipped: %s.' % vu)
    else:
        def med(mode, key):
            st = (vu.get(mode) or {}).get(key)
            return st['median'] if st else None
        print('\n| %-30s | %10s | %10s | %10s |' % (('',) + MODES))
        print('|%s|%s|%s|%s|' % ('-' * 32, '-' * 12, '-' * 12, '-' * 12))
        for title, key, unit in (
                ('downtime (src stop -> dst run)', 'downtime_ms', ' ms'),
                ('dest. vhost start in downtime', 'backend_start_us', ' us'),
                ('largest probe gap (guest)', 'probe_gap_ms', ' ms')):
            print('| %-30s | %10s | %10s | %10s |' % (
                (title,) + tuple(fmt(med(m, key), unit) for m in MODES)))
        vb, vo = med('baseline', 'downtime_ms'), med('on', 'downtime_ms')
        if vb and vo:
            print('\nWith a vhost-user back-end that takes %d ms to set up, '
                  'the downtime was %s with virtio-iterative on against %s '
                  'for stock QEMU: the back-end is set up while the guest '
                  'still runs on the source.' % (
                      VHOST_DELAY_MS, fmt(vo, ' ms'), fmt(vb, ' ms')))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'vhost_user': vu if not isinstance(vu, str) else
                       {'skipped': vu},
                       'runs': results,
                       'median': {m: {'downtime_ms': median(
                           [r['downtime_ms'] for r in results[m]]),
                           'virtio_total_us': tot[m],
                           'probe_gap_ms': median(
                               [r['probe_gap_ms'] for r in results[m]])}
                           for m in MODES}}, f, indent=1)
            f.write('\n')
        print('demo: wrote', args.json)
    if args.png:
        plot(results, tot, args.png)
        print('demo: wrote', args.png)
    print('\nThe record after stop excludes ring indices (4 B per queue) '
          'and tx_waiting; vhost start: n/a on the\nuserspace datapath.  '
          'make bench measures more (queue counts, kernel vhost-net).')
    if args.keep:
        print('logs in', workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
