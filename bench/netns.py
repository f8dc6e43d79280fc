"""A private network namespace for the benchmark's guests.

Layout (all inside the namespace, nothing touches the host's network):

    br0  10.0.2.2/24, the gateway the guests probe; the UDP responder
         (python3 -m iterative.vm responder) listens on 10.0.2.2:PORT
    multi-queue taps, ports of br0: two per guest (source and destination
         alternate between them across ping-pong migrations)

QEMU (tap netdev) and the vhost-user backend open the taps by name, so
they run inside the namespace (`prefix` = ip netns exec NAME).  QMP and
the migration stream go through Unix sockets, which do not care.
Needs root (/dev/net/tun, ip netns).
"""

import os
import subprocess
import sys
import time

GATEWAY = '10.0.2.2'
RESPONDER_PORT = 7777


def ip(*args):
    subprocess.run(('ip',) + args, check=True, stdout=subprocess.DEVNULL)


class Namespace:
    """Create with `with Namespace() as ns:`; removed (with its taps and
    the responder) on exit."""

    def __init__(self, name=None):
        self.name = name or 'itbench-%d' % os.getpid()
        self.prefix = ['ip', 'netns', 'exec', self.name]
        self.taps = set()
        self.responder = None

    def __enter__(self):
        ip('netns', 'add', self.name)
        try:
            ip('-n', self.name, 'link', 'set', 'lo', 'up')
            ip('-n', self.name, 'link', 'add', 'br0', 'type', 'bridge')
            ip('-n', self.name, 'addr', 'add', GATEWAY + '/24', 'dev', 'br0')
            ip('-n', self.name, 'link', 'set', 'br0', 'up')
            self.responder = subprocess.Popen(
                self.prefix + [sys.executable, '-m', 'iterative.vm',
                               'responder', GATEWAY, str(RESPONDER_PORT)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            line = self.responder.stdout.readline()
            if not line.startswith('responder:'):
                raise RuntimeError('responder did not start: ' + line)
        except Exception:
            self.__exit__()
            raise
        return self

    def tap(self, name, multi_queue=True):
        """A tap `name` on br0 (created once, then reused).  QEMU wants a
        multi-queue tap for queues=N>1 and a single-queue one for 1."""
        if name not in self.taps:
            ip('-n', self.name, 'tuntap', 'add', 'dev', name, 'mode', 'tap',
               *(['multi_queue'] if multi_queue else []))
            ip('-n', self.name, 'link', 'set', name, 'master', 'br0', 'up')
            self.taps.add(name)
        return name

    def __exit__(self, *exc):
        if self.responder:
            self.responder.kill()
            self.responder.wait()
        for tap in self.taps:
            subprocess.run(['ip', '-n', self.name, 'link', 'del', tap],
                           stderr=subprocess.DEVNULL)
        for _ in range(50):
            if subprocess.run(['ip', 'netns', 'del', self.name],
                              stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.1)
        return False
