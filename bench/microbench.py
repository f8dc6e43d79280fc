"""Device-level microbenchmark: per-device switchover cost without a guest.

HOOK for the qtest a colleague is writing (not in the series yet):
build/qemu/build/tests/qtest/virtio-net-iterative-test, a libqos-driven
virtio-net-pci at DRIVER_OK with up to 64 queue pairs on the qtest
accelerator, migrated between two QEMUs.  Until that binary exists, every
case is reported as "pending".

The contract this module assumes (adapt here once the test lands):

- the test is run as  TEST [-p PATH]  with QTEST_QEMU_BINARY (and
  QTEST_QEMU_BINARY_SRC/_DST, for the migration framework) set to the QEMU
  under test and QTEST_TRACE="vmstate_downtime_*": libqtest then adds
  `-trace vmstate_downtime_*` to both QEMUs, whose trace lines go to the
  test's stderr;
- the case is chosen through the environment: ITERATIVE_BENCH_MODE
  (baseline|off|on), ITERATIVE_BENCH_QUEUE_PAIRS (N) and
  ITERATIVE_BENCH_RUNS (migrations to do);
- each migration prints one vmstate_downtime_save line (source) and one
  vmstate_downtime_load line (destination) for the virtio-net section.
"""

import os
import subprocess

from vmlib import downtime_samples

DEFAULT_TEST = 'tests/qtest/virtio-net-iterative-test'
DEFAULT_PATH = '/x86_64/virtio-net-iterative/bench'


def parse_downtime(text, device='virtio-net'):
    """{'dev_save_us': [...], 'dev_load_us': [...]} from trace output: one
    sample per vmstate_downtime_save/load line of `device`'s section."""
    return {'dev_save_us': downtime_samples(text, 'vmstate_downtime_save',
                                            device),
            'dev_load_us': downtime_samples(text, 'vmstate_downtime_load',
                                            device)}


def run_external(cmd, env, timeout=600):
    """Run `cmd` with `env` added to the environment and parse the
    vmstate_downtime_* lines of its stderr (QTEST_TRACE output)."""
    full_env = dict(os.environ, QTEST_TRACE='vmstate_downtime_*', **env)
    proc = subprocess.run(cmd, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (
            ' '.join(cmd), proc.returncode, proc.stderr.strip()[-500:]))
    return parse_downtime(proc.stderr)


def run_case(test, qemu, mode, queue_pairs, runs, path=DEFAULT_PATH):
    """One microbenchmark case; None when the test binary is missing
    (pending), else the per-migration samples (see parse_downtime)."""
    if not test or not os.access(test, os.X_OK):
        return None
    env = {'QTEST_QEMU_BINARY': qemu, 'QTEST_QEMU_BINARY_SRC': qemu,
           'QTEST_QEMU_BINARY_DST': qemu,
           'ITERATIVE_BENCH_MODE': mode,
           'ITERATIVE_BENCH_QUEUE_PAIRS': str(queue_pairs),
           'ITERATIVE_BENCH_RUNS': str(runs)}
    return run_external([test, '-p', path] if path else [test], env)
