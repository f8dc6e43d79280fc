"""Device-level microbenchmark: per-device switchover cost without a guest.

It runs the series' qtest, build/qemu/build/tests/qtest/
virtio-net-iterative-test: a libqos-driven virtio-net-pci at DRIVER_OK
with N queue pairs on the qtest accelerator (N > 1: a multiqueue tap in
the test's own network namespace, so root), live-migrated once between
two QEMUs while the driver changes the device's fields, then switched
over.  One run of the test is one migration:

    QTEST_QEMU_BINARY=<patched qemu> QTEST_TRACE='vmstate_downtime_*' \\
    [QTEST_ITERATIVE_QUEUES=N] TEST -p /x86_64/virtio-net-iterative/queues-N

(queues-1 and queues-4 always exist; QTEST_ITERATIVE_QUEUES=N adds
queues-N).  libqtest puts `-trace vmstate_downtime_*` on both QEMUs'
command lines; their trace lines go to stderr, which the test's output
collects.  Only the source saves during the migration and only the
destination loads, so we parse the virtio-net sections'
vmstate_downtime_save lines up to the end of the source's switchover
(the test then saves both sides to files to compare the device's legacy
state) and every vmstate_downtime_load line: per migration, the sum
over the device's sections at switchover, as bench.py does for the
guest runs.  (In practice one line per side:
idstr .../virtio-net, type non-iterable, which with virtio-iterative
carries the final record; the .../virtio-net/iterative section has no
switchover part.)

The test always enables the virtio-iterative capability on both sides and
has no switch for it (its command line is fixed, it sets the capability
over QMP): only mode "on" is measured here.  "off" and stock QEMU at
1..32 queue pairs come from the guest runs.
"""

import os
import shutil
import subprocess
import tempfile

from iterative.vm import downtime_samples, read

DEFAULT_TEST = 'tests/qtest/virtio-net-iterative-test'
DEFAULT_PATH = '/x86_64/virtio-net-iterative/queues-{n}'
BUILTIN_QUEUES = (1, 4)         # registered without QTEST_ITERATIVE_QUEUES
MODES = ('on',)                 # what the test can measure
NO_OFF = ('the qtest always enables virtio-iterative; off and baseline: '
          'see the guest runs')


# The source's log ends the live migration's switchover here; the test
# then saves both sides to files (capability off) to compare the device's
# legacy state, which writes more vmstate_downtime_save lines.
SWITCHOVER_END = 'vmstate_downtime_checkpoint src-non-iterable-saved'


def parse_downtime(output, device='virtio-net'):
    """{'dev_save_us': total, 'dev_load_us': total} of the test's live
    migration: the sum of `device`'s vmstate_downtime_save lines in the
    test's output up to the end of the source's switchover and of its
    vmstate_downtime_load lines (None when there are none)."""
    end = output.find(SWITCHOVER_END)
    save = downtime_samples(output[:end] if end >= 0 else output,
                            'vmstate_downtime_save', device)
    load = downtime_samples(output, 'vmstate_downtime_load', device)
    return {'dev_save_us': sum(save) if save else None,
            'dev_load_us': sum(load) if load else None}


def run_once(test, qemu, queue_pairs, path=DEFAULT_PATH, timeout=300,
             env=None):
    """One run of the test (one migration); returns parse_downtime()."""
    work = tempfile.mkdtemp(prefix='iterative-micro-')
    try:
        tmp = os.path.join(work, 'tmp')
        cwd = os.path.join(work, 'cwd')  # empty: sh -c sees the trace glob
        os.mkdir(tmp)
        os.mkdir(cwd)
        full_env = dict(os.environ, QTEST_QEMU_BINARY=qemu,
                        QTEST_QEMU_BINARY_SRC=qemu, QTEST_QEMU_BINARY_DST=qemu,
                        QTEST_TRACE='vmstate_downtime_*', TMPDIR=tmp,
                        **(env or {}))
        full_env.pop('QTEST_LOG', None)
        if queue_pairs not in BUILTIN_QUEUES:
            full_env['QTEST_ITERATIVE_QUEUES'] = str(queue_pairs)
        else:
            full_env.pop('QTEST_ITERATIVE_QUEUES', None)
        cmd = [os.path.abspath(test), '-p', path.format(n=queue_pairs)]
        out_path = os.path.join(work, 'output')
        with open(out_path, 'w') as out:
            try:
                proc = subprocess.run(cmd, env=full_env, cwd=cwd, stdout=out,
                                      stderr=subprocess.STDOUT,
                                      timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RuntimeError('%s: timed out' % ' '.join(cmd))
        output = read(out_path)
        if proc.returncode != 0:
            raise RuntimeError('%s failed (%d): %s' % (
                ' '.join(cmd), proc.returncode, output.strip()[-500:]))
        if 'SKIP' in output:
            raise RuntimeError('%s: skipped: %s' % (
                ' '.join(cmd), output.strip()[-300:]))
        r = parse_downtime(output)
        if r['dev_save_us'] is None or r['dev_load_us'] is None:
            raise RuntimeError('%s: no virtio-net vmstate_downtime lines'
                               % ' '.join(cmd))
        return r
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_case(test, qemu, queue_pairs, runs, path=DEFAULT_PATH):
    """One microbenchmark case (mode "on"): None when the test binary is
    missing (pending), else {'dev_save_us': [...], 'dev_load_us': [...],
    'failed': n} with one sample per successful run.  Raises when no run
    succeeded."""
    if not test or not os.access(test, os.X_OK):
        return None
    samples = {'dev_save_us': [], 'dev_load_us': [], 'failed': 0}
    error = None
    for _ in range(runs):
        try:
            r = run_once(test, qemu, queue_pairs, path)
        except Exception as e:
            samples['failed'] += 1
            error = e
            continue
        for key in ('dev_save_us', 'dev_load_us'):
            samples[key].append(r[key])
    if not samples['dev_save_us']:
        raise error
    return samples
