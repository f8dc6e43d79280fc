#!/usr/bin/python3
"""Run the project's test suites and summarise them.

Each suite is a command printing TAP (glib qtests with --tap, our own
checks).  Every "ok"/"not ok" line counts as one test; a suite that exits
non-zero or times out without reporting a failure counts one failure more,
so that a crash is never silent.  The last line printed is
"N passed, N failed, N skipped"; the exit status is 1 on any failure.

Usage: run-tests.py SUITES.json LOGDIR [--var NAME=VALUE]... [--filter RE]

SUITES.json (scripts/suites.json) holds "envs", environment profiles, and
"suites", each {"name", "cmd" (argv), "env" (a profile, optional),
"timeout" (s), "cwd" (optional)}; its "about" says how variables and
qos-test paths are written.  --filter keeps the suites whose name
matches RE.
"""

import argparse
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


VAR_RE = re.compile(r'\{([A-Z]+)\}')
QOS_RE = re.compile(r'^\{qos-paths:(.*)\}$')


def expand(text, variables):
    return VAR_RE.sub(lambda m: variables[m.group(1)], text)


def profile(envs, name, variables):
    """The environment profile @name, with what it inherits"""
    env = {}
    conf = dict(envs[name])
    if 'inherit' in conf:
        env.update(profile(envs, conf.pop('inherit'), variables))
    env.update({k: expand(v, variables) for k, v in conf.items()})
    return env


def qos_paths(regex, qos, env):
    """-p options for the graph paths of qos-test @qos that match @regex"""
    full = dict(os.environ)
    full.update(env)
    out = subprocess.run([qos, '-l'], env=full, capture_output=True,
                         text=True).stdout
    args = []
    for line in out.split('\n'):
        if line.startswith('/') and re.search(regex, line):
            args += ['-p', line.strip()]
    return args


def load(path, variables, name_filter):
    conf = json.load(open(path))
    suites = []
    for suite in conf['suites']:
        if not re.search(name_filter, suite['name']):
            continue
        env = profile(conf['envs'], suite['env'], variables) \
            if 'env' in suite else {}
        cmd = []
        for arg in suite['cmd']:
            m = QOS_RE.match(arg)
            cmd += qos_paths(m.group(1), cmd[0], env) if m else \
                [expand(arg, variables)]
        suites.append({'name': suite['name'], 'cmd': cmd, 'env': env,
                       'timeout': suite.get('timeout', 600),
                       'cwd': expand(suite['cwd'], variables)
                       if 'cwd' in suite else None})
    return suites


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('suites')
    ap.add_argument('logdir')
    ap.add_argument('--var', action='append', default=[],
                    help='NAME=VALUE for {NAME} in the suites file')
    ap.add_argument('--filter', default='.')
    args = ap.parse_args()
    variables = dict(v.split('=', 1) for v in args.var)
    suites = load(args.suites, variables, args.filter)
    logdir = args.logdir
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
