#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""io_profile_report.py RAW OUT TSV: the markdown of scripts/io-profile.sh.

RAW holds one set of files per measurement (NAME.b.* for the back end,
NAME.c.* for the client, .time from GNU time, .perf from perf stat -x, or
.strace from strace -c, .json from vblk bench or fio) for a full run and a
one-request run of each back end and queue depth, and idle-*.tsv for the
idle measurements. Per-I/O figures are (run - one-request run) / (I/Os of
the run - I/Os of the one-request run): start, connect and exit cancel out.
OUT is the markdown path ("-": stdout); TSV, when not empty, gets the same
numbers as tab-separated rows (the "Rows" comment below).
"""
import glob
import json
import os
import sys

LABEL = {"vblkd": "vblkd", "qsd": "qsd", "fio": "host fio"}
SIDE = {"b": "back end", "c": "client"}


def load_kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            k, _, v = line.rstrip("\n").partition("\t")
            d[k] = v
    return d


def load_time(path):
    """GNU time -f '%e %U %S %w %c %M' (the last line: the first may be a
    'Command terminated by signal' note)."""
    lines = [ln for ln in open(path).read().splitlines() if ln.strip()]
    f = lines[-1].split()
    return {"elapsed": float(f[0]), "user": float(f[1]), "sys": float(f[2]),
            "vcs": int(f[3]), "ivcs": int(f[4]), "maxrss_kib": int(f[5])}


def load_perf(path):
    """perf stat -x,: value,unit,event,... -> {syscall: count}, with
    "other" for what raw_syscalls:sys_enter counted beyond the named ones."""
    out = {"sys": {}}
    total = None
    for line in open(path):
        f = line.strip().split(",")
        if len(f) < 3 or not f[0] or not (f[0][0].isdigit()):
            continue
        v, ev = float(f[0]), f[2]
        if ev == "raw_syscalls:sys_enter":
            total = v
        elif ev.startswith("syscalls:sys_enter_"):
            if v:
                out["sys"][ev[len("syscalls:sys_enter_"):]] = v
    if total is not None:
        out["sys"]["other"] = total - sum(out["sys"].values())
    return out


def load_strace(path):
    """strace -c: % time, seconds, usecs/call, calls, [errors], syscall."""
    out = {"sys": {}}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[3].isdigit() and f[-1] != "total":
            out["sys"][f[-1]] = float(f[3])
    return out


def load_side(prefix):
    """The counters of one process of one measurement, or None."""
    if not os.path.exists(prefix + ".time"):
        return None
    d = {"time": load_time(prefix + ".time")}
    if os.path.exists(prefix + ".perf"):
        d.update(load_perf(prefix + ".perf"))
    elif os.path.exists(prefix + ".strace"):
        d.update(load_strace(prefix + ".strace"))
    else:
        d["sys"] = None
    return d


def load_job(path):
    job = json.load(open(path))["jobs"][0]["read"]
    return job["total_ios"], job["iops"]


def per_io(run, base, ios):
    """Per-I/O CPU and context switches of one process (untraced pass)."""
    t, tb = run["time"], base["time"]
    r = {"user_us": 1e6 * (t["user"] - tb["user"]) / ios,
         "sys_us": 1e6 * (t["sys"] - tb["sys"]) / ios,
         "vcs": (t["vcs"] - tb["vcs"]) / ios,
         "ivcs": (t["ivcs"] - tb["ivcs"]) / ios}
    r["cpu_us"] = r["user_us"] + r["sys_us"]
    return r


def sys_per_io(run, base, ios):
    """Per-I/O syscalls by name of one process (traced pass), or None."""
    if run["sys"] is None or base["sys"] is None:
        return None
    names = set(run["sys"]) | set(base["sys"])
    return {n: (run["sys"].get(n, 0) - base["sys"].get(n, 0)) / ios for n in names}


def pair(raw, name):
    """(run prefix, base prefix, I/Os run - I/Os base, IOPS of the run) or None."""
    run, base = os.path.join(raw, name + "-run"), os.path.join(raw, name + "-base")
    try:
        ios_r, iops = load_job(run + ".json")
        ios_b, _ = load_job(base + ".json")
    except (OSError, ValueError, KeyError, IndexError):
        return None
    return (run, base, ios_r - ios_b, iops) if ios_r > ios_b else None


def collect(raw):
    """{(backend, qd): {"ios", "iops", "b": per_io, "c": per_io}}; a
    per_io has "sys" (by name) and "syscalls" (total) from the traced pass."""
    res = {}
    for path in sorted(glob.glob(os.path.join(raw, "*-cost-run.json"))):
        name = os.path.basename(path)[:-len("-cost-run.json")]
        be, qd = name.rsplit("-qd", 1)
        cost, trace = pair(raw, name + "-cost"), pair(raw, name + "-sys")
        if not cost:
            continue
        m = {"ios": cost[2], "iops": cost[3]}
        for side in ("b", "c"):
            r, b = load_side(cost[0] + "." + side), load_side(cost[1] + "." + side)
            if not (r and b):
                continue
            m[side] = per_io(r, b, cost[2])
            m[side]["sys"] = m[side]["syscalls"] = None
            if trace:
                r, b = load_side(trace[0] + "." + side), load_side(trace[1] + "." + side)
                if r and b:
                    s = sys_per_io(r, b, trace[2])
                    if s is not None:
                        m[side]["sys"], m[side]["syscalls"] = s, sum(s.values())
        res[(be, int(qd))] = m
    return res


def collect_idle(raw):
    out = []
    for path in sorted(glob.glob(os.path.join(raw, "idle-*.tsv"))):
        d = load_kv(path)
        try:
            secs, hz = float(d["secs"]), float(d["hz"])
            out.append({"backend": d["backend"], "disks": int(d["disks"]),
                        "cpu_pct": 100.0 * int(d["ticks"]) / hz / secs, "secs": secs,
                        "threads": int(d["threads"]),
                        **{k: int(d.get(k, 0)) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")}})
        except (KeyError, ValueError, ZeroDivisionError):
            continue
    out.sort(key=lambda x: (x["backend"] != "vblkd", x["backend"], x["disks"]))
    return out


def load_idle_tsv(path):
    """The idle rows of a --tsv file, as collect_idle() returns them."""
    out = []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "idle" and len(f) >= 11:
            out.append({"backend": f[1], "disks": int(f[2]), "cpu_pct": float(f[3]), "VmRSS": int(f[4]),
                        "VmHWM": int(f[5]), "RssShmem": int(f[6]), "threads": int(f[7]),
                        "RssAnon": int(f[8]), "RssFile": int(f[9]), "secs": float(f[10])})
    return out


def f(v, nd=2):
    return "—" if v is None else f"{v:.{nd}f}"


def mib(kib):
    return f"{kib / 1024:.1f}"


def report(raw, res, idle):
    meta = load_kv(os.path.join(raw, "meta.tsv"))
    w = []
    w.append("## Per-I/O cost: 4k randread, 1 queue, image on tmpfs (page cache)")
    w.append("")
    w.append(f"{meta.get('date')}, {meta.get('kernel')}, {meta.get('nproc')} CPUs, load average "
             f"{meta.get('load')} at the start and {meta.get('end_load')} at the end; commit "
             f"`{meta.get('commit')}`; {meta.get('runtime')} s per run; syscall counter: "
             f"{meta.get('tracer')}; {meta.get('qsd')}."
             + (" **Quick smoke mode: the figures mean little.**" if meta.get("quick") == "1" else ""))
    w.append("")
    w.append("Per I/O = (full run − one-request run) / (I/Os − 1), each run with a fresh back end, so "
             "start, connect and exit cancel out. CPU (user + sys, 10 ms resolution) and context switches "
             "come from getrusage over the whole process (threads that ended included) in an untraced pass, "
             "with its IOPS; syscalls from a second pass under the counter. In a VM, CPU time includes "
             "time the host took the vCPU away: on a loaded host it is inflated.")
    w.append("")
    w.append("| back end | qd | IOPS | process | CPU µs/I/O | user µs | sys µs | voluntary cs/I/O "
             "| involuntary cs/I/O | syscalls/I/O |")
    w.append("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    keys = sorted(res, key=lambda k: (k[1], ["vblkd", "qsd", "fio"].index(k[0]) if k[0] in LABEL else 9))
    for k in keys:
        m = res[k]
        for side in ("b", "c"):
            if side not in m:
                continue
            p = m[side]
            proc = "fio (client and I/O in one)" if k[0] == "fio" else SIDE[side]
            w.append(f"| {LABEL.get(k[0], k[0])} | {k[1]} | {m['iops']:.0f} | {proc} | {f(p['cpu_us'], 1)} "
                     f"| {f(p['user_us'], 1)} | {f(p['sys_us'], 1)} | {f(p['vcs'])} | {f(p['ivcs'])} "
                     f"| {f(p.get('syscalls'))} |")
    w.append("")
    for side in ("b", "c"):
        cols = [k for k in keys if side in res[k] and res[k][side]["sys"] is not None
                and (side == "c" or k[0] != "fio")]
        if side == "c":
            cols = [k for k in cols if k[0] != "fio"] + [k for k in cols if k[0] == "fio"]
        if not cols:
            continue
        names = set()
        for k in cols:
            names |= {n for n, v in res[k][side]["sys"].items() if abs(v) >= 0.005}
        names = sorted(names, key=lambda n: -max(res[k][side]["sys"].get(n, 0) for k in cols))
        w.append(f"Syscalls per I/O of the {SIDE[side]} process, by name (|value| < 0.005 left out):")
        w.append("")
        w.append("| syscall | " + " | ".join(f"{LABEL.get(k[0], k[0])} qd{k[1]}" for k in cols) + " |")
        w.append("|---|" + "---:|" * len(cols))
        for n in names:
            w.append(f"| {n} | " + " | ".join(f(res[k][side]["sys"].get(n, 0)) for k in cols) + " |")
        w.append("| **total** | " + " | ".join(f(res[k][side]["syscalls"]) for k in cols) + " |")
        w.append("")
    if idle:
        w.extend(idle_md(idle, meta))
    return w


def idle_md(idle, meta, level="##"):
    w = [f"{level} Idle cost and memory", ""]
    w.append(f"One idle client per disk (connected, one queue enabled, no I/O); CPU over "
             f"{meta.get('idle', idle[0]['secs'] if idle else '?')} s after a settling second, from utime + stime in /proc/PID/stat "
             f"(1/{os.sysconf('SC_CLK_TCK')} s ticks); memory from /proc/PID/status at the end. "
             "RssShmem is the clients' shared memory the back end has touched (the rings when idle); "
             "the goal counts it apart. RssFile is mostly shared libraries' pages (shared with every other "
             "process that maps them), RssAnon the process's own memory.")
    w.append("")
    w.append("| back end | disks | CPU % of a core | VmRSS MiB | VmHWM MiB | RssAnon MiB | RssFile MiB "
             "| RssShmem MiB | VmRSS − RssShmem MiB | threads |")
    w.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in idle:
        w.append(f"| {LABEL.get(r['backend'], r['backend'])} | {r['disks']} | {r['cpu_pct']:.2f} "
                 f"| {mib(r['VmRSS'])} | {mib(r['VmHWM'])} | {mib(r['RssAnon'])} | {mib(r['RssFile'])} "
                 f"| {mib(r['RssShmem'])} "
                 f"| {mib(r['VmRSS'] - r['RssShmem'])} | {r['threads']} |")
    w.append("")
    return w


def write_tsv(path, res, idle):
    # Rows: io BACKEND QD SIDE IOS IOPS CPU_US USER_US SYS_US VCS IVCS SYSCALLS
    #       sys BACKEND QD SIDE NAME PER_IO
    #       idle BACKEND DISKS CPU_PCT VMRSS_KIB VMHWM_KIB RSSSHMEM_KIB THREADS RSSANON_KIB RSSFILE_KIB SECS
    rows = []
    for (be, qd), m in sorted(res.items()):
        for side in ("b", "c"):
            if side not in m:
                continue
            p = m[side]
            sc = p.get("syscalls")
            rows.append(["io", be, qd, side, m["ios"], f"{m['iops']:.0f}", f"{p['cpu_us']:.3f}",
                         f"{p['user_us']:.3f}", f"{p['sys_us']:.3f}", f"{p['vcs']:.4f}", f"{p['ivcs']:.4f}",
                         "-" if sc is None else f"{sc:.4f}"])
            for n, v in sorted((p["sys"] or {}).items()):
                if v:
                    rows.append(["sys", be, qd, side, n, f"{v:.4f}"])
    for r in idle:
        rows.append(["idle", r["backend"], r["disks"], f"{r['cpu_pct']:.3f}", r["VmRSS"], r["VmHWM"],
                     r["RssShmem"], r["threads"], r["RssAnon"], r["RssFile"], f"{r['secs']:.2f}"])
    with open(path, "w") as fp:
        for row in rows:
            fp.write("\t".join(map(str, row)) + "\n")


def main():
    raw, out, tsv = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
    res, idle = collect(raw), collect_idle(raw)
    text = "\n".join(report(raw, res, idle)) + "\n"
    if out == "-":
        sys.stdout.write(text)
    else:
        with open(out, "w") as fp:
            fp.write(text)
    if tsv:
        write_tsv(tsv, res, idle)
    return 0 if res or idle else 1


if __name__ == "__main__":
    sys.exit(main())
