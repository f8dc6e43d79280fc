"""Summaries of a benchmark run: summary.json, a Markdown table, PNG plots
(matplotlib) and the README's "Performance" section."""

import json
import math
import os
import platform
import re
import shutil

FIGURES = ('downtime_ms', 'qmp_downtime_ms', 'total_ms', 'dev_save_us',
           'dev_load_us', 'backend_start_us', 'switchover_dev_bytes',
           'probe_gap_ms')
# "none": the capability on and the device opted out (userspace only)
MODES = ('baseline', 'off', 'none', 'on')
COLORS = {'baseline': 'C0', 'off': 'C1', 'on': 'C2', 'none': 'C7'}
DOWNTIME_HDR = 'downtime ms (src stop → dst running)'
QMP_DOWNTIME_HDR = 'query-migrate downtime ms'


def stats(values):
    """{'median', 'p95', 'n'} of the non-None values (p95: nearest rank),
    or None when there are none."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    n = len(values)
    mid = n // 2
    med = values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2
    p95 = values[max(0, math.ceil(0.95 * n) - 1)]
    return {'median': med, 'p95': p95, 'n': n}


def machine():
    """One line describing this machine."""
    cpu = 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            m = re.search(r'model name\s*:\s*(.*)', f.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    distro = platform.system()
    try:
        with open('/etc/os-release') as f:
            m = re.search(r'PRETTY_NAME="(.*)"', f.read())
            distro = m.group(1) if m else distro
    except OSError:
        pass
    return '%d cores %s, %s, kernel %s, guests on TCG' % (
        os.cpu_count(), cpu, distro, platform.release())


def fmt_runs(runs):
    """runs_per_case (an int, or {datapath: {queue pairs: n}}) as text."""
    if isinstance(runs, int):
        return '%d' % runs
    parts = []
    for dp, per_qp in runs.items():
        by_n = {}
        for qp, n in per_qp.items():
            by_n.setdefault(n, []).append(qp)
        parts.append('%s: %s' % (dp, ', '.join(
            '%d at %s qp' % (n, '/'.join(qps)) for n, qps in by_n.items())))
    return '; '.join(parts)


def summarize(cases, micro, runs, started, elapsed, quick=False,
              micro_runs=None, vhost_net=None, vdpa=None):
    """The summary.json structure (see README, "Performance")."""
    out = []
    for c in cases:
        d = {'mode': c.mode, 'datapath': c.datapath,
             'backend_setup_ms': c.delay_ms, 'queue_pairs': c.queue_pairs,
             'status': c.status, 'runs': len(c.runs)}
        if c.note:
            d['note'] = c.note
        for key in FIGURES:
            d[key] = stats(r.get(key) for r in c.runs)
        d['final_record_bytes'] = stats(r.get('final_record_bytes')
                                        for r in c.runs)
        d['full_reloads'] = sum(r.get('full_reloads') or 0 for r in c.runs)
        if any('devices' in r for r in c.runs):
            names = [n for r in c.runs for n in r.get('devices', {})]
            d['devices'] = {
                n: {k: stats(r['devices'][n][k] for r in c.runs
                             if n in r.get('devices', {}))
                    for k in ('save_us', 'load_us')}
                for n in dict.fromkeys(names)}
            d['virtio_total_us'] = stats(r.get('virtio_total_us')
                                         for r in c.runs)
        out.append(d)
    micro_out = []
    for m in micro:
        d = {'mode': m['mode'], 'queue_pairs': m['queue_pairs'],
             'status': m['status']}
        if m.get('note'):
            d['note'] = m['note']
        samples = m.get('samples') or {}
        d['dev_save_us'] = stats(samples.get('dev_save_us', []))
        d['dev_load_us'] = stats(samples.get('dev_load_us', []))
        d['failed_runs'] = samples.get('failed', 0)
        micro_out.append(d)
    return {'machine': machine(),
            'date': started.strftime('%Y-%m-%d %H:%M UTC'),
            'load_average_at_start': list(os.getloadavg()),
            'duration_s': int(elapsed),
            'runs_per_case': runs,
            'microbench_runs_per_case': micro_runs,
            'quick': quick,
            'cases': out,
            'device_microbench': micro_out,
            'vhost_net': _vhost_net_summary(vhost_net),
            'vdpa': _vdpa_summary(vdpa)}


def _vdpa_summary(vdpa):
    """summary.json's vhost-vdpa rows (bench/vhostnet.py --vdpa): per
    mode and place of the device's set-up latency, the destination's
    vhost start at switchover; 'ratio': prestart over no prestart."""
    rows = _prestart_rows(vdpa, 'delay_on', 'vdpa-no-prestart', 'vdpa')
    if rows and rows['status'] == 'measured':
        rows['delay_ms'] = vdpa.get('delay_ms')
    return rows


def _nested_rows(summary, key, label):
    """summary[@key] (bench/vhostnet.py's rows) and, unless they were
    measured, the lines that say why not (none if absent)."""
    rows = summary.get(key)
    if not rows:
        return None, []
    if rows['status'] != 'measured':
        return None, ['', '%s: %s (%s).' % (label, rows['status'],
                                            rows.get('note', ''))]
    return rows, None


def vdpa_table(summary):
    """The vhost-vdpa rows, if measured."""
    vd, why = _nested_rows(summary, 'vdpa', 'vhost-vdpa (nested guest, VDUSE)')
    if not vd:
        return why
    lines = ['', 'vhost-vdpa on a VDUSE test device, in a nested guest '
             'with Linux 6.12 under TCG (bench/vhostnet.py --vdpa: the '
             'qtest\'s no-change case, 1 queue pair, no guest): the '
             'destination\'s vhost start at switchover, us, median (p95), '
             'with a device that takes %s ms to set up at FEATURES_OK or '
             'at DRIVER_OK.  "no prestart" is vhost-prestart=off, the full '
             'start of stock QEMU.' % vd.get('delay_ms'), '',
             '| set-up at | no prestart (as stock) | prestart (on) | '
             'on / stock |', '| --- | ---: | ---: | ---: |']
    for place, label in (('features', 'FEATURES_OK'),
                         ('start', 'DRIVER_OK')):
        row = {c['mode']: c for c in vd['cases'] if c['delay_on'] == place}
        if not row:
            continue
        fails = sum(c['failed_runs'] for c in row.values())
        lines.append('| %s | %s | %s | %s%s |' % (
            label,
            _fig((row.get('vdpa-no-prestart') or {}).get('backend_start_us')),
            _fig((row.get('vdpa') or {}).get('backend_start_us')),
            '%.0f %%' % (100 * vd['ratio_on_to_stock'][place])
            if place in vd['ratio_on_to_stock'] else '–',
            ' (%d runs failed)' % fails if fails else ''))
    return lines


def _prestart_rows(result, key, base, on):
    """bench/vhostnet.py's @result for summary.json: per case, the
    destination's vhost start at switchover; 'ratio_on_to_stock': mode
    @on over mode @base, per value of @key."""
    if not result:
        return None
    if 'pending' in result:
        return {'status': 'pending', 'note': result['pending']}
    cases = [{'mode': c['mode'], key: c[key],
              'backend_start_us': stats(c['backend_start_us']),
              'failed_runs': c['failed']} for c in result['cases']]
    ratio = {}
    for c in cases:
        other = [o for o in cases if o[key] == c[key] and o['mode'] == base]
        if c['mode'] == on and other and c['backend_start_us'] and \
                other[0]['backend_start_us']:
            ratio[str(c[key])] = round(
                c['backend_start_us']['median'] /
                other[0]['backend_start_us']['median'], 3)
    return {'status': 'measured', 'cases': cases, 'ratio_on_to_stock': ratio}


def _vhost_net_summary(vhost_net):
    """summary.json's kernel vhost-net rows (bench/vhostnet.py): per
    mode and queue pairs, the destination's vhost start at switchover;
    'ratio': prestart over no prestart, per queue pairs."""
    return _prestart_rows(vhost_net, 'queue_pairs', 'no-prestart', 'on')


def _fig(stat, digits=0):
    if not stat:
        return '–'
    f = '%%.%df' % digits
    return '%s (%s)' % (f % stat['median'], f % stat['p95'])


def markdown(summary):
    """The results as a Markdown table: median (p95) per case."""
    lines = ['Machine: %s.  Date: %s.  Measured runs per case: %s; median '
             '(p95).' % (summary['machine'], summary['date'],
                         fmt_runs(summary['runs_per_case'])), '',
             '| datapath | queue pairs | mode | %s | %s | total ms | '
             'virtio-net save us | virtio-net load us | dest. backend start '
             'us | device bytes at switchover | probe gap ms |' % (
                 DOWNTIME_HDR, QMP_DOWNTIME_HDR),
             '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: '
             '| ---: | ---: |']
    pending = {}
    for c in summary['cases']:
        dp = c['datapath']
        if dp == 'vhost-user':
            dp += ' %d ms' % c['backend_setup_ms']
        if c['status'] == 'pending':
            pending.setdefault(dp, set()).add(c['queue_pairs'])
            continue
        if c['status'] == 'failed' and not c['runs']:
            lines.append('| %s | %d | %s | failed | | | | | | | |' % (
                dp, c['queue_pairs'], c['mode']))
            continue
        b = c['switchover_dev_bytes']
        lines.append('| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | '
                     '%s |' % (
            dp, c['queue_pairs'], c['mode'], _fig(c['downtime_ms']),
            _fig(c.get('qmp_downtime_ms')), _fig(c.get('total_ms')),
            _fig(c['dev_save_us']), _fig(c['dev_load_us']),
            _fig(c['backend_start_us']),
            '%d' % b['median'] if b else '–', _fig(c['probe_gap_ms'])))
    for dp, qps in pending.items():
        lines.append('| %s | %s | all | pending | pending | pending | '
                     'pending | pending | pending | pending | pending |' % (
                         dp, ', '.join(str(q) for q in sorted(qps))))
    lines += _no_participant_table(summary)
    lines += vm_table(summary)
    lines += vhost_net_table(summary)
    lines += vdpa_table(summary)
    micro = summary.get('device_microbench') or []
    lines.append('')
    if micro and any(m['status'] not in ('pending', 'n/a') for m in micro):
        runs = summary.get('microbench_runs_per_case')
        lines += ['Device-level microbenchmark (qtest `virtio-net-iterative-'
                  'test`, no guest, %s migrations per case): virtio-net '
                  'switchover cost with virtio-iterative on, median (p95).  '
                  'The test always enables the capability, so off and stock '
                  'QEMU are not measured here: see the guest runs above (up '
                  'to 32 queue pairs).' % (runs if runs else 'several'), '',
                  '| queue pairs | mode | save us | load us |',
                  '| ---: | --- | ---: | ---: |']
        for m in micro:
            if m['status'] == 'n/a':
                continue
            note = ''
            if m.get('failed_runs'):
                note = ' (%d runs failed)' % m['failed_runs']
            lines.append('| %d | %s | %s | %s |' % (
                m['queue_pairs'], m['mode'],
                _fig(m['dev_save_us']) + note if m['status'] == 'measured'
                else m['status'], _fig(m['dev_load_us'])))
    else:
        lines.append('Device-level microbenchmark (qtest, up to 64 queue '
                     'pairs): pending (test not built yet).')
    return '\n'.join(lines)


def vhost_net_table(summary):
    """The kernel vhost-net rows, if measured."""
    vn, why = _nested_rows(summary, 'vhost_net',
                           'Kernel vhost-net (nested guest)')
    if not vn:
        return why
    lines = ['', 'Kernel vhost-net, in a nested guest under TCG (bench/'
             'vhostnet.py: the qtest on a tap with vhost=on, no guest): '
             'the destination\'s vhost start at switchover, us, median '
             '(p95).  "no prestart" is the device with vhost-prestart=off: '
             'the full start that stock QEMU and the capability off do.', '',
             '| queue pairs | no prestart (as stock) | prestart (on) | '
             'on / stock |', '| ---: | ---: | ---: | ---: |']
    for qp in sorted({c['queue_pairs'] for c in vn['cases']}):
        row = {c['mode']: c for c in vn['cases'] if c['queue_pairs'] == qp}
        fails = sum(c['failed_runs'] for c in row.values())
        lines.append('| %d | %s | %s | %s%s |' % (
            qp, _fig((row.get('no-prestart') or {}).get('backend_start_us')),
            _fig((row.get('on') or {}).get('backend_start_us')),
            '%.0f %%' % (100 * vn['ratio_on_to_stock'][str(qp)])
            if str(qp) in vn['ratio_on_to_stock'] else '–',
            ' (%d runs failed)' % fails if fails else ''))
    return lines


def vm_table(summary):
    """The realistic VM: each virtio device's switchover save + load cost
    per mode, their sum (virtio_total_us) and the downtime, median (p95),
    with the sum and downtime relative to stock QEMU's."""
    cases = {c['mode']: c for c in summary['cases']
             if c['datapath'] == 'vm' and c.get('devices')}
    modes = [m for m in ('baseline', 'off', 'on') if m in cases]
    if not modes:
        return []
    qp = cases[modes[0]]['queue_pairs']
    names = list(dict.fromkeys(n for m in modes for n in cases[m]['devices']))

    def cost(dev):
        """save + load medians (p95s) of one device's stats"""
        s, l = dev.get('save_us'), dev.get('load_us')
        if not s and not l:
            return None
        return {k: (s or {}).get(k, 0) + (l or {}).get(k, 0)
                for k in ('median', 'p95')}

    def ratio(key, m):
        base = cases.get('baseline', {}).get(key)
        cur = cases[m].get(key)
        if not base or not cur or not base['median']:
            return '–'
        return '%.1f %%' % (100.0 * cur['median'] / base['median'])
    lines = ['', 'Realistic VM (datapath `vm`: virtio-net with %d queue '
             'pairs on a tap, virtio-blk, virtio-scsi with one disk, '
             'virtconsole, virtio-balloon, virtio-rng; the guest\'s drivers '
             'run them all): each device\'s switchover save + load, us, and '
             'their sum (`virtio_total_us`), median (p95); "vs stock" is the '
             'median relative to stock QEMU\'s.' % qp, '',
             '| | %s |' % ' | '.join(
                 {'baseline': 'stock'}.get(m, m) for m in modes),
             '| --- |%s' % (' ---: |' * len(modes))]
    for n in names:
        lines.append('| %s | %s |' % (n, ' | '.join(
            _fig(cost(cases[m]['devices'].get(n, {}))) for m in modes)))
    lines.append('| **all virtio devices** | %s |' % ' | '.join(
        _fig(cases[m].get('virtio_total_us')) for m in modes))
    lines.append('| all virtio, vs stock | %s |' % ' | '.join(
        ratio('virtio_total_us', m) for m in modes))
    lines.append('| %s | %s |' % (DOWNTIME_HDR, ' | '.join(
        _fig(cases[m].get('downtime_ms'), 1) for m in modes)))
    lines.append('| downtime vs stock | %s |' % ' | '.join(
        ratio('downtime_ms', m) for m in modes))
    lines.append('| probe gap ms | %s |' % ' | '.join(
        _fig(cases[m].get('probe_gap_ms')) for m in modes))
    return lines


def _no_participant_table(summary):
    """Total migration time when no device participates: stock QEMU, the
    series with the capability off, and with it on but the device opted
    out, each relative to stock."""
    rows = {}
    for c in summary['cases']:
        if c['datapath'] == 'userspace' and c.get('total_ms'):
            rows.setdefault(c['queue_pairs'], {})[c['mode']] = c['total_ms']
    rows = {qp: r for qp, r in rows.items() if 'none' in r}
    if not rows:
        return []
    lines = ['', 'Total migration time (query-migrate `total-time`, ms, '
             'median (p95)) when no device participates: stock QEMU, the '
             'series with virtio-iterative off, and with it on but the '
             'device opted out (`iterative-migration=off`); the ratio is '
             'the median over stock\'s.', '',
             '| queue pairs | stock | off | ratio | on, opted out | ratio |',
             '| ---: | ---: | ---: | ---: | ---: | ---: |']

    def ratio(r, mode):
        base = r.get('baseline')
        if not base or mode not in r or not base['median']:
            return '–'
        return '%.2f' % (r[mode]['median'] / base['median'])
    for qp in sorted(rows):
        r = rows[qp]
        lines.append('| %d | %s | %s | %s | %s | %s |' % (
            qp, _fig(r.get('baseline')), _fig(r.get('off')), ratio(r, 'off'),
            _fig(r.get('none')), ratio(r, 'none')))
    return lines


def _series(summary, datapath, delay, mode, key):
    pts = [(c['queue_pairs'], c[key]['median']) for c in summary['cases']
           if c['datapath'] == datapath and c['backend_setup_ms'] == delay
           and c['mode'] == mode and c.get(key)]
    return sorted(pts)


def plot(summary, out):
    """downtime.png and switchover.png: median vs queue pairs, one line
    per mode, one panel per datapath (and the microbenchmark)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator, ScalarFormatter

    groups = []
    for c in summary['cases']:
        g = (c['datapath'], c['backend_setup_ms'])
        # the realistic VM has one queue count: in its table only
        if c['status'] != 'pending' and g not in groups and \
                c['datapath'] != 'vm':
            groups.append(g)
    title = lambda g: g[0] + (' %d ms' % g[1] if g[0] == 'vhost-user' else '')
    styles = {'baseline': 'o-', 'off': 's--', 'on': '^-', 'none': 'd:'}

    def panel(ax, pts_by_mode, ylabel, name, extra=None, logy=False):
        xs = set()
        for mode, pts in pts_by_mode.items():
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts],
                        styles[mode], label=mode, color=COLORS[mode])
                xs.update(p[0] for p in pts)
        for mode, pts in (extra or {}).items():
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], ':',
                        marker='x', color=COLORS[mode], alpha=0.6,
                        label=mode + ', query-migrate')
                xs.update(p[0] for p in pts)
        ax.set_xscale('log', base=2)
        ax.set_xticks(sorted(xs))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
        if logy:
            ax.set_yscale('log')
        else:
            ax.set_ylim(bottom=0)
        ax.set_xlabel('queue pairs')
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=10)
        ax.grid(True, alpha=0.3)
        if extra:
            # six entries: room for them above the lines
            ax.set_ylim(0, ax.get_ylim()[1] * 1.7)
            ax.legend(fontsize=7, ncol=2, loc='upper left')
        else:
            ax.legend(fontsize=8)

    foot = '%s\n%s' % (summary['machine'].replace(', kernel', ',\nkernel'),
                        summary['date'])

    def finish(fig, heading, size, bottom, name):
        """Title, machine/date footer, save and close one figure."""
        fig.suptitle(heading, fontsize=size)
        fig.text(0.01, bottom / 10, foot, fontsize=6)
        fig.tight_layout(rect=(0, bottom, 1, 1))
        fig.savefig(os.path.join(out, name), dpi=110)
        plt.close(fig)

    # downtime
    n = max(1, len(groups))
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 3.8), squeeze=False)
    for ax, g in zip(axes[0], groups):
        panel(ax, {m: _series(summary, g[0], g[1], m, 'downtime_ms')
                   for m in MODES}, 'downtime, ms (median)', title(g),
              extra={m: _series(summary, g[0], g[1], m, 'qmp_downtime_ms')
                     for m in MODES})
    finish(fig, 'Downtime vs queue pairs: source stops the VM → destination '
           'VM running (solid); query-migrate (dotted)', 10, 0.1,
           'downtime.png')

    # per-device switchover cost: save and load rows
    micro = [m for m in summary.get('device_microbench') or []
             if m['status'] == 'measured']
    cols = groups + ([('qtest', 0)] if micro else [])
    n = max(1, len(cols))
    fig, axes = plt.subplots(2, n, figsize=(4.5 * n, 7), squeeze=False)
    for j, g in enumerate(cols):
        for i, key in enumerate(('dev_save_us', 'dev_load_us')):
            if g[0] == 'qtest':
                pts = {m: sorted((c['queue_pairs'], c[key]['median'])
                                 for c in micro if c['mode'] == m and c[key])
                       for m in MODES}
                name = 'device microbenchmark (qtest, on only)'
            else:
                pts = {m: _series(summary, g[0], g[1], m, key)
                       for m in MODES}
                name = title(g)
            panel(axes[i][j], pts, 'virtio-net %s at switchover, us' %
                  key[4:8], name, logy=True)
    finish(fig, 'Per-device switchover cost vs queue pairs (median, log '
           'scale)', 11, 0.05, 'switchover.png')


def write_json(summary, path):
    """summary.json's content to `path` ("-": stdout)"""
    if path == '-':
        print(json.dumps(summary, indent=1))
        return
    with open(path, 'w') as f:
        json.dump(summary, f, indent=1)
        f.write('\n')


def write(summary, out):
    with open(os.path.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
        f.write('\n')
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write(markdown(summary) + '\n')
    plot(summary, out)


BEGIN, END = '<!-- bench:begin -->', '<!-- bench:end -->'


def publish(summary, out, readme, results):
    """Copy the table and plots to `results` (tracked in git) and replace
    the text between the bench markers in `readme` (its "Performance"
    section, added before "## Layout" when missing) with them."""
    os.makedirs(results, exist_ok=True)
    for name in ('summary.json', 'summary.md', 'downtime.png',
                 'switchover.png'):
        shutil.copy(os.path.join(out, name), os.path.join(results, name))
    rel = os.path.relpath(results, os.path.dirname(os.path.abspath(readme)))
    table = markdown(summary).split('\n', 2)[2]
    generated = '\n'.join([
        BEGIN,
        'Latest %srun: %s, %s; measured runs per case after a warm-up: '
        '%s; median (p95); took %d min.' % (
            'QUICK=1 ' if summary.get('quick') else '',
            summary['machine'], summary['date'],
            fmt_runs(summary['runs_per_case']),
            round(summary['duration_s'] / 60)), '',
        table, '',
        '![downtime vs queue pairs](%s/downtime.png)' % rel, '',
        '![per-device switchover cost vs queue pairs](%s/switchover.png)'
        % rel,
        END])
    with open(readme) as f:
        text = f.read()
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        text = text[:a] + generated + text[b:]
    else:
        section = '## Performance\n\n' + generated + '\n\n'
        m = re.search(r'^## Layout', text, re.M)
        at = m.start() if m else len(text)
        text = text[:at] + section + text[at:]
    with open(readme, 'w') as f:
        f.write(text)
