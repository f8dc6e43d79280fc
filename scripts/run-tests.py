#!/usr/bin/python3
"""Run the project's test suites and summarise them.

Each suite is a command printing TAP (glib qtests with --tap, our own
checks).  Every "ok"/"not ok" line counts as one test; a suite that exits
non-zero or times out without reporting a failure counts one failure more,
so that a crash is never silent.  The last line printed is
"N passed, N failed, N skipped"; the exit status is 1 on any failure.

Usage: run-tests.py SUITES.json LOGDIR
SUITES.json is a list of {"name", "cmd" (argv), "env" (dict, optional),
"timeout" (s), "cwd" (optional)}.
"""

import json
import os
import re
import subprocess
import sys
import time

TAP_RE = re.compile(r'^(not ok|ok)\s+\d+\s*-?\s*(.*?)(\s+#\s*(SKIP|TODO).*)?$',
                    re.IGNORECASE)


def run_suite(suite, logdir):
    name = suite['name']
    env = dict(os.environ)
    env.update(suite.get('env', {}))
    log_path = os.path.join(logdir, re.sub(r'[^\w.-]', '_', name) + '.log')
    passed = failed = skipped = 0
    failures = []
    start = time.monotonic()
    timed_out = False
    with open(log_path, 'w') as log:
        log.write('$ %s\n' % ' '.join(suite['cmd']))
        log.flush()
        proc = subprocess.Popen(suite['cmd'], env=env, cwd=suite.get('cwd'),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                errors='replace', start_new_session=True)
        deadline = start + suite.get('timeout', 600)
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buf = ''
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                os.killpg(proc.pid, 9)
                break
            if not sel.select(timeout=min(left, 5)):
                continue
            chunk = proc.stdout.readline()
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            m = TAP_RE.match(chunk.strip())
            if not m:
                continue
            status, desc, directive = m.group(1).lower(), m.group(2), m.group(4)
            if directive and directive.upper() == 'SKIP':
                skipped += 1
                print('  SKIP %s' % desc, flush=True)
            elif status == 'ok':
                passed += 1
                print('  PASS %s' % desc, flush=True)
            else:
                failed += 1
                failures.append(desc)
                print('  FAIL %s' % desc, flush=True)
        rc = proc.wait()
        elapsed = time.monotonic() - start
        if timed_out:
            failed += 1
            failures.append('%s: timed out after %ds' % (name, suite.get('timeout', 600)))
            print('  FAIL %s (timeout)' % name, flush=True)
        elif rc != 0 and not failures:
            failed += 1
            failures.append('%s: exit status %d' % (name, rc))
            print('  FAIL %s (exit status %d)' % (name, rc), flush=True)
        log.write('\n# exit status %s, %.1fs\n' % ('timeout' if timed_out else rc, elapsed))
    return passed, failed, skipped, elapsed, log_path


def main():
    suites = json.load(open(sys.argv[1]))
    logdir = sys.argv[2]
    os.makedirs(logdir, exist_ok=True)
    total = [0, 0, 0]
    rows = []
    for suite in suites:
        print('== %s' % suite['name'], flush=True)
        p, f, s, t, log = run_suite(suite, logdir)
        total[0] += p
        total[1] += f
        total[2] += s
        rows.append((suite['name'], p, f, s, t, log))
    print('\n%-40s %6s %6s %6s %8s' % ('suite', 'pass', 'fail', 'skip', 'time'))
    for name, p, f, s, t, log in rows:
        print('%-40s %6d %6d %6d %7.0fs%s' % (name, p, f, s, t,
                                             '  see ' + log if f else ''))
    print('%d passed, %d failed, %d skipped' % tuple(total))
    return 1 if total[1] or not total[0] else 0


if __name__ == '__main__':
    sys.exit(main())
