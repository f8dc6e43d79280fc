"""Shared pieces of the migration demo (demo/demo.py) and the benchmark
(bench/bench.py): a UDP responder for the guest's probe, a QEMU process
driven over QMP (QEMU's own python/qemu/qmp library), one live migration
from a source to a destination, and the parsers for the trace events that
both read.

The caller puts QEMU's python/ directory on sys.path before creating a Vm.
"""

import os
import re
import socket
import statistics
import subprocess
import threading
import time


class Responder(threading.Thread):
    """UDP echo server for the guest's probe (demo/probe.c).

    The demo binds it to 127.0.0.1 (the guest reaches it as 10.0.2.2 through
    slirp); the benchmark runs it as a process inside a network namespace,
    bound to the bridge address (python3 -m iterative.vm responder ADDR PORT).
    """

    def __init__(self, addr='127.0.0.1', port=0):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, port))
        self.port = self.sock.getsockname()[1]
        self.count = 0

    def run(self):
        while True:
            data, addr = self.sock.recvfrom(2048)
            self.count += 1
            self.sock.sendto(data, addr)


class Vm:
    """One QEMU process with a QMP socket, a serial log and a trace log.

    workdir/NAME.{serial,trace,qmp,stderr} are its files.  `prefix` is put
    in front of the command line (e.g. ['ip', 'netns', 'exec', NS]);
    `trace` lists the trace event patterns to enable; with `timestamps`
    every trace line starts with "PID@SECONDS.MICROSECONDS:".
    """

    TRACE = ('vmstate_downtime_save', 'vmstate_downtime_load')

    def __init__(self, binary, workdir, name, args, prefix=(), trace=TRACE,
                 timestamps=False, smp=1, memory='256'):
        self.name = name
        self.serial = os.path.join(workdir, name + '.serial')
        self.trace = os.path.join(workdir, name + '.trace')
        self.qmp_path = os.path.join(workdir, name + '.qmp')
        for path in (self.serial, self.trace, self.qmp_path):
            if os.path.exists(path):
                os.unlink(path)
        cmd = list(prefix) + [
            binary, '-machine', 'q35', '-m', memory, '-smp', str(smp),
            '-display', 'none', '-nodefaults', '-no-user-config',
            '-serial', 'file:' + self.serial,
            '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path]
        for event in trace:
            cmd += ['-trace', event]
        cmd += ['-D', self.trace]
        if timestamps:
            cmd += ['-msg', 'timestamp=on']
        cmd += list(args)
        self.stderr_path = os.path.join(workdir, name + '.stderr')
        with open(self.stderr_path, 'w') as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                         stderr=err)
        deadline = time.time() + 20
        while not os.path.exists(self.qmp_path):
            if self.proc.poll() is not None or time.time() > deadline:
                self.proc.kill()
                raise RuntimeError('%s: QEMU did not start: %s' % (
                    name, read(self.stderr_path).strip()[-500:]))
            time.sleep(0.05)
        from qemu.qmp.legacy import QEMUMonitorProtocol
        # the socket file appears at bind(), slightly before listen()
        while True:
            self.qmp = QEMUMonitorProtocol(self.qmp_path)
            try:
                self.qmp.connect()
                break
            except Exception:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.proc.kill()
                    raise RuntimeError('%s: QEMU did not start: %s' % (
                        name, read(self.stderr_path).strip()[-500:]))
                time.sleep(0.05)

    def cmd(self, name, **args):
        return self.qmp.cmd(name, **args)

    def wait_serial(self, pattern, timeout):
        """Wait for `pattern` on the serial console; return the match."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, read(self.serial))
            if m:
                return m
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


DOWNTIME_RE = (r'%s type=\S+ idstr=(\S+) instance_id=\d+ downtime=(\d+)')


def downtime_samples(text, event, device='virtio-net'):
    """Every `event` (vmstate_downtime_save/load) cost in us of `device`'s
    sections, in the order they appear in `text` (a trace log)."""
    return [int(m.group(2)) for m in re.finditer(DOWNTIME_RE % event, text)
            if device in m.group(1)]


def trace_us(path, event, device='virtio-net'):
    """Total switchover cost in us of `device` in one trace log."""
    samples = downtime_samples(read(path), event, device)
    return sum(samples) if samples else None


# A realistic VM's virtio devices besides virtio-net (the guest loads their
# drivers with guest.devices=all, demo/mk-guest.sh): (name, suffix of the
# idstr of its migration section, its QEMU arguments)
VM_DEVICES = (
    ('virtio-net', 'virtio-net', []),
    ('virtio-blk', 'virtio-blk',
     ['-blockdev', 'null-co,node-name=blk0,read-zeroes=on',
      '-device', 'virtio-blk-pci,drive=blk0']),
    ('virtio-scsi', 'virtio-scsi',
     ['-blockdev', 'null-co,node-name=sd0,read-zeroes=on',
      '-device', 'virtio-scsi-pci,id=scsi0',
      '-device', 'scsi-hd,drive=sd0,bus=scsi0.0']),
    ('virtconsole', 'virtio-console',
     ['-device', 'virtio-serial-pci', '-chardev', 'null,id=vcon0',
      '-device', 'virtconsole,chardev=vcon0']),
    ('virtio-balloon', 'virtio-balloon', ['-device', 'virtio-balloon-pci']),
    ('virtio-rng', 'virtio-rng', ['-device', 'virtio-rng-pci']),
)


def vm_device_args():
    """The QEMU arguments of VM_DEVICES (virtio-net is the caller's)"""
    return [a for _, _, args in VM_DEVICES for a in args]


def device_costs(src_trace, dst_trace):
    """{name: {'save_us', 'load_us'}} of every VM_DEVICES device at
    switchover, from the source's and the destination's trace logs (paths),
    and the sum of them all"""
    src, dst = read(src_trace), read(dst_trace)
    costs = {}
    for name, idstr, _ in VM_DEVICES:
        save = downtime_samples(src, 'vmstate_downtime_save', idstr)
        load = downtime_samples(dst, 'vmstate_downtime_load', idstr)
        costs[name] = {'save_us': sum(save) if save else None,
                       'load_us': sum(load) if load else None}
    total = sum(v or 0 for d in costs.values() for v in d.values())
    return costs, total


def final_bytes(info, device='/virtio-backend'):
    """Size of the iterative switchover record of the device whose QOM path
    ends with `device`, from a query-migrate reply (feature on only)"""
    for stats in info.get('iterative-devices', []):
        if stats['device'].endswith(device):
            return stats['switchover-bytes']
    return None


def migrate(src, dst, uri, caps=(), params=None, timeout=120, src_uri=None):
    """Live-migrate `src` to `dst` (started with -incoming defer) over
    `uri`, with the extra migration capabilities `caps` set on both sides
    and `params` on the source.  The source connects to `src_uri` if given
    (e.g. a relay in front of `uri`).  Returns the source's final
    query-migrate.
    """
    capabilities = [{'capability': 'events', 'state': True}]
    capabilities += [{'capability': c, 'state': True} for c in caps]
    for vm in (src, dst):
        vm.cmd('migrate-set-capabilities', capabilities=capabilities)
    dst.cmd('migrate-incoming', uri=uri)
    src.cmd('migrate-set-parameters', **(params or {'downtime-limit': 300}))
    src.cmd('migrate', uri=src_uri or uri)
    deadline = time.time() + timeout
    while True:
        info = src.cmd('query-migrate')
        if info.get('status') == 'completed':
            return info
        if info.get('status') in ('failed', 'cancelled'):
            raise RuntimeError('%s: migration %s: %s' % (
                src.name, info['status'], info.get('error-desc', '')))
        if time.time() > deadline:
            raise RuntimeError('%s: migration did not complete' % src.name)
        time.sleep(0.05)


def probe_gaps(vm, timeout=10, settle=0.5):
    """Gaps (ms) the guest's probe reported on `vm`'s serial console.

    The first answer after a switchover reports the gap: wait up to
    `timeout` s for one, then `settle` s more for later ones."""
    def gaps():
        return [float(g) for g in
                re.findall(r'probe: gap_ms=([\d.]+)', read(vm.serial))]
    deadline = time.time() + timeout
    while time.time() < deadline and not gaps():
        time.sleep(0.1)
    time.sleep(settle)
    return gaps()


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, unit=''):
    if v is None:
        return 'n/a'
    return ('%.1f' % v if isinstance(v, float) else str(v)) + unit


if __name__ == '__main__':
    import sys
    if len(sys.argv) != 4 or sys.argv[1] != 'responder':
        sys.exit('usage: python3 -m iterative.vm responder ADDR PORT')
    r = Responder(sys.argv[2], int(sys.argv[3]))
    print('responder: %s:%d' % (sys.argv[2], r.port), flush=True)
    r.run()
