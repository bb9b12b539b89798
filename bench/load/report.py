#!/usr/bin/env python3
"""Turns bench/load/run.sh's raw files into perf-baselines/load-report.md (markdown on stdout)."""
import glob
import os
import re
import statistics
import sys

RAW = sys.argv[1]
CONTENDERS = ["direct", "fastproxy", "nginx", "nginx-debian", "haproxy", "yarp"]
SCENARIOS = ["h1-post-12k", "h1-post-49k", "h1-post-1m", "h1-get-1m",
             "h2c-post-12k", "h2c-post-49k", "h2c-post-1m", "h2c-get-1m"]


def kv(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            for part in line.split():
                if "=" in part:
                    k, v = part.split("=", 1)
                    out[k] = v
    return out


def machine():
    out = {}
    for line in open(os.path.join(RAW, "machine.env")):
        k, v = line.rstrip("\n").split("=", 1)
        out[k] = v
    return out


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value if unit == "ms" else value * 1000


def rounds_of(who, scen):
    """The round numbers measured for one contender and scenario (files who@scen@round.h2load)."""
    found = []
    for path in glob.glob(os.path.join(RAW, f"{who}@{scen}@*.h2load")):
        tail = os.path.basename(path)[len(f"{who}@{scen}@"):-len(".h2load")]
        if tail.isdigit():
            found.append(int(tail))
    return sorted(found)


def parse_round(who, scen, rnd):
    path = os.path.join(RAW, f"{who}@{scen}@{rnd}.h2load")
    if not os.path.exists(path):
        return None
    text = open(path).read()
    r = {}
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", text)
    if not m:
        return {"rps": 0.0, "failures": "run failed"}
    r["rps"] = float(m.group(2))
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    done, failed, errored, timeout = int(m.group(2)), int(m.group(4)), int(m.group(5)), int(m.group(6))
    m2 = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    non2xx = sum(int(m2.group(i)) for i in (2, 3, 4)) if m2 else 0
    r["done"] = done
    r["failures"] = failed + errored + timeout + non2xx
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    r["mean_ms"] = to_ms(m.group(3)) if m else None
    p = kv(os.path.join(RAW, f"{who}@{scen}@{rnd}.proc"))
    ticks, hz = int(p.get("cpu_ticks", 0)), int(p.get("hz", 100))
    r["cpu_s"] = ticks / hz
    r["per_cpu"] = done / r["cpu_s"] if ticks > 0 else None
    r["hwm_mb"] = int(p.get("hwm_kb", 0)) / 1024 or None
    log = os.path.join(RAW, f"{who}@{scen}@{rnd}.rate.log")
    if os.path.exists(log):
        lat = []
        bad = 0
        for line in open(log):
            parts = line.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]) / 1000)
                bad += 0 if parts[1].startswith("2") else 1
        if lat:
            lat.sort()
            r["p50_ms"] = lat[len(lat) // 2]
            r["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            r["rate_n"] = len(lat)
            r["failures"] += bad
    return r


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def parse(who, scen):
    """Medians over the rounds (peak RSS: the first round's; failures: the sum), and the rounds themselves."""
    per_round = {r: parse_round(who, scen, r) for r in rounds_of(who, scen)}
    per_round = {r: v for r, v in per_round.items() if v}
    if not per_round:
        return None
    runs = list(per_round.values())
    out = {"rounds": per_round}
    for key in ("rps", "mean_ms", "cpu_s", "per_cpu", "p50_ms", "p99_ms"):
        out[key] = median_of([r.get(key) for r in runs])
    # The first round's: the scenarios run in a fixed order in a process started for the run, and
    # later rounds would carry what the heaviest scenario of the round before left behind.
    out["hwm_mb"] = runs[0].get("hwm_mb")
    failures = [r.get("failures") for r in runs]
    out["failures"] = sum(failures) if all(isinstance(x, int) for x in failures) else "run failed"
    if out.get("p99_ms") is None:
        out.pop("p99_ms")
    return out


def f(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def paired(a, b, key):
    """Ratios a ÷ b of one key within each round both ran, as (median, lowest, highest)."""
    if not a or not b:
        return None
    values = [a["rounds"][r].get(key) / b["rounds"][r].get(key)
              for r in a["rounds"] if r in b["rounds"] and a["rounds"][r].get(key) and b["rounds"][r].get(key)]
    return (statistics.median(values), min(values), max(values)) if values else None


def pratio(a, b, key, spread=False):
    p = paired(a, b, key)
    if not p:
        return "–"
    return f"{p[0]:.2f}× ({p[1]:.2f}–{p[2]:.2f})" if spread and len(a["rounds"]) > 1 else f"{p[0]:.2f}×"


M = machine()
data = {(w, s): parse(w, s) for w in CONTENDERS for s in SCENARIOS}
idle = kv(os.path.join(RAW, "fastproxy.idle"))
startup = [float(x) for x in open(os.path.join(RAW, "startup.txt")).read().split() if x != "timeout"]

print("# Load comparison: FastProxy vs nginx vs HAProxy vs YARP vs direct\n")
print(f"Generated by `bench/load/run.sh` on {M['date']}. Machine: {M['nproc']} cores, {M['cpu']}, "
      f"{M['mem']}, kernel {M['kernel']}. nginx {M['nginx']} (1 worker), HAProxy {M['haproxy']} (nbthread 1), "
      f"{'YARP ' + M['yarp'] + ' (minimal forwarder, JIT, warmed up with 90,000 requests), ' if 'yarp' in M else ''}"
      f"h2load {M['h2load']}, .NET SDK {M['dotnet']}. Runs: {M['duration']}. "
      f"FastProxy's settings: {('`' + M['fastproxy_env'] + '`') if M.get('fastproxy_env') else 'the shipped defaults'}"
      f"{' (one socket event thread, as nginx runs one worker and HAProxy one thread; the shipped default, one per core, is `aot-default` in the last section)' if M.get('fastproxy_env') == 'IO_THREADS=1' else ''}.\n")
print("All contenders ran one after another, in each of the rounds, against the same one-thread C sink (`bench/load/sink.c`: reads the whole "
      "body, answers 204; `GET /big` streams 1 MiB). HTTP/1.1: 32 connections; h2c: 8 connections × 8 streams. "
      "CPU is the proxy process's utime+stime from /proc (nginx: master+worker) over the measured run; "
      "peak RSS is VmHWM reset (`clear_refs`) before each run (the first round's). The machine is shared: "
      "only ratios measured side by side mean anything, so each ratio below is the median over the rounds of the "
      "ratio within one round (lowest–highest in brackets for requests per CPU-second); raw figures are medians.\n")

print("## Ratios (FastProxy ÷ peer, same round; median over the rounds)\n")
print("`nginx` is the harness's tuned nginx, the peer of the targets; `nginx-debian` is nginx as issue #5 "
      "names it, on Debian's stock configuration (its access log, 8 KB body buffer, response buffering; "
      "`bench/load/nginx-conf.sh`).\n")
print("| scenario | req/s ÷ nginx | req/s ÷ HAProxy | req/s ÷ YARP | req/s ÷ direct | req per CPU-s ÷ nginx | req per CPU-s ÷ nginx-debian | req per CPU-s ÷ HAProxy | req per CPU-s ÷ YARP | peak RSS FastProxy / nginx / HAProxy / YARP (MB) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s in SCENARIOS:
    fp, ng, nd, ha, ya, di = (data[(w, s)] for w in ("fastproxy", "nginx", "nginx-debian", "haproxy", "yarp", "direct"))
    if not fp:
        continue
    g = lambda r, k: (r or {}).get(k)
    print(f"| {s} | {pratio(fp, ng, 'rps')} | {pratio(fp, ha, 'rps')} | {pratio(fp, ya, 'rps')} "
          f"| {pratio(fp, di, 'rps')} "
          f"| {pratio(fp, ng, 'per_cpu', True)} | {pratio(fp, nd, 'per_cpu', True)} "
          f"| {pratio(fp, ha, 'per_cpu', True)} | {pratio(fp, ya, 'per_cpu', True)} "
          f"| {f(g(fp,'hwm_mb'))} / {f(g(ng,'hwm_mb'),1)} / {f(g(ha,'hwm_mb'),1)} / {f(g(ya,'hwm_mb'),1)} |")

fp1, fp2 = data[("fastproxy", "h1-post-12k")], data[("fastproxy", "h2c-post-12k")]
print()
if fp1 and fp2 and fp1.get("rps") and fp2.get("rps"):
    print(f"FastProxy h2c ÷ HTTP/1.1 (12.8 KB bodies): {pratio(fp2, fp1, 'rps', True)} req/s, "
          f"{pratio(fp2, fp1, 'per_cpu', True)} per CPU-second "
          f"(h2c has 64 streams in flight over 8 connections, HTTP/1.1 32 requests over 32 connections).\n")
fp32 = parse("fastproxy", "h2c-post-12k-32")
if fp1 and fp32 and fp1.get("rps") and fp32.get("rps"):
    print(f"At equal concurrency, 32 requests in flight (h2c: 4 connections × 8 streams): "
          f"{pratio(fp32, fp1, 'rps', True)} req/s ({f(fp32['rps'])} against {f(fp1['rps'])}), "
          f"{pratio(fp32, fp1, 'per_cpu', True)} per CPU-second; {fp32['failures']} failures.\n")

print("## Raw figures\n")
print("| contender | scenario | req/s | mean ms | proxy CPU s | req per proxy CPU-s | peak RSS MB | p50 / p99 ms @ fixed rate | failures |")
print("|---|---|---|---|---|---|---|---|---|")
for w in CONTENDERS:
    for s in SCENARIOS:
        r = data[(w, s)]
        if not r:
            continue
        lat = f"{f(r.get('p50_ms'),2)} / {f(r.get('p99_ms'),2)}" if "p99_ms" in r else ""
        print(f"| {w} | {s} | {f(r.get('rps'))} | {f(r.get('mean_ms'),2)} | {f(r.get('cpu_s'),2)} | {f(r.get('per_cpu'))} "
              f"| {f(r.get('hwm_mb'),1)} | {lat} | {r.get('failures')} |")
print(f"\nFixed-rate runs: {M['rate'] if 'rate' in M else M['duration'].split('rate=')[-1].split()[0]} requests/s in total, "
      "paced by h2load `--rps`, latency percentiles from its `--log-file`.\n")

print("## FastProxy footprint\n")
print(f"- native AOT binary: {int(M['aot_bytes']) / 1048576:.1f} MB (linux-x64, stripped; symbols in a separate .dbg file)")
if startup:
    print(f"- start to first 200 on `/ready` (process exec → listener → first token from the local IMDS): "
          f"median {statistics.median(startup):.0f} ms, runs {', '.join(f'{x:.0f}' for x in startup)} ms (target < 100 ms)")
if idle:
    print(f"- idle RSS 7 s after ready (start-up over, its code pages released): {int(idle['idle_rss_kb']) / 1024:.1f} MB (target < 30 MB)")
    if "hwm_1g_kb" in idle:
        print(f"- peak RSS streaming one 1 GiB body: {int(idle['hwm_1g_kb']) / 1024:.1f} MB (status {idle.get('status_1g')}) vs "
              f"{int(idle['hwm_12k_kb']) / 1024:.1f} MB under 32-connection 12.8 KB load (target: within 10 MB)")

variants = sorted({os.path.basename(p).split("@")[0] for p in glob.glob(os.path.join(RAW, "variant-*@*.h2load"))})
if variants:
    print("\n## Runtime and GC settings (FastProxy only, same run)\n")
    print("Each variant is a fresh process; `aot-default` is the shipped configuration (server GC with dynamic adaptation, non-concurrent, gen0 budget at most 6 MB, inline I/O completions); "
          "`jit-default` runs the same settings on JIT, warmed up with 90,000 requests first as YARP is. Ratios are to `aot-default` in the same round, medians over the rounds.\n")
    print("| variant | h1 12.8 KB req/s | per CPU-s | h1 49 KB req/s | per CPU-s | h2c 12.8 KB req/s | per CPU-s | peak RSS MB h1 / h2c 12.8 KB |")
    print("|---|---|---|---|---|---|---|---|")
    base = {s: parse("variant-aot-default", s) for s in ("h1-post-12k", "h1-post-49k", "h2c-post-12k")}
    for v in variants:
        cells = []
        for s in ("h1-post-12k", "h1-post-49k", "h2c-post-12k"):
            r = parse(v, s)
            b = base[s]
            if not r or not r.get("rps"):
                cells += ["–", "–"]
                continue
            cells.append(f"{f(r['rps'])} ({pratio(r, b, 'rps')})")
            cells.append(f"{f(r.get('per_cpu'))} ({pratio(r, b, 'per_cpu')})")
        hw = parse(v, "h1-post-12k")
        hw2 = parse(v, "h2c-post-12k")
        print(f"| {v.removeprefix('variant-')} | {' | '.join(cells)} | {f(hw and hw.get('hwm_mb'), 1)} / {f(hw2 and hw2.get('hwm_mb'), 1)} |")
