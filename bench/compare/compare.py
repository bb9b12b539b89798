#!/usr/bin/env python3
"""Regression gate for the micro-benchmarks.

Reads BenchmarkDotNet's JSON export(s) of one run, reduces them to
{benchmark: mean ns, time ratio to the reference benchmark, allocated bytes/op}, and compares with
the committed baseline (perf-baselines/microbench-baseline.json).

Fails (exit 1) when, for any benchmark in the baseline:
  - allocated bytes/op grew by more than max(ALLOC_SLACK_BYTES, ALLOC_SLACK_PERCENT of baseline);
  - its time ratio to the reference benchmark (same run) grew by more than TIME_MARGIN;
  - it is missing from the run.
Absolute times are never compared: on shared machines they are noise; the ratio cancels machine speed.

A regression is measured again before it fails the gate (bench/gate.sh): with SUSPECTS=FILE, the
names of the benchmarks that failed on time or allocation are written there, one per line (not
when a benchmark is missing); with ONLY=FILE, only the benchmarks named there are compared.

With --update the run becomes the baseline; with --update --merge only the benchmarks of the run
replace theirs, and the others keep their entries (a change that moved a few benchmarks on purpose
need not re-measure the rest on a noisy machine).

usage: compare.py RESULTS_DIR BASELINE_JSON [--update [--merge]]
"""
import glob
import json
import os
import sys
from datetime import datetime, timezone

REFERENCE = "ReferenceBenchmarks.Fnv1a16K"
TIME_MARGIN = float(os.environ.get("TIME_MARGIN", "0.25"))
ALLOC_SLACK_BYTES = int(os.environ.get("ALLOC_SLACK_BYTES", "8"))
ALLOC_SLACK_PERCENT = float(os.environ.get("ALLOC_SLACK_PERCENT", "1"))
# Benchmarks whose time is dominated by scheduling on a shared machine (all cores at once) get a
# wider time margin; their allocation is still gated strictly.
NOISY = {"TokenSnapshotBenchmarks.ReadContended": 1.0}


def load_run(results_dir):
    run = {}
    files = glob.glob(os.path.join(results_dir, "**", "*-report-full*.json"), recursive=True) or \
        glob.glob(os.path.join(results_dir, "**", "*.json"), recursive=True)
    for path in files:
        with open(path) as f:
            doc = json.load(f)
        for b in doc.get("Benchmarks", []):
            name = f"{b['Type']}.{b['Method']}"
            if b.get("Parameters"):
                name += f"({b['Parameters']})"
            stats = b.get("Statistics") or {}
            if "Mean" not in stats:
                continue
            run[name] = {
                "mean_ns": stats["Mean"],
                "alloc_bytes": (b.get("Memory") or {}).get("BytesAllocatedPerOperation", 0),
            }
    if REFERENCE not in run:
        sys.exit(f"gate: the reference benchmark {REFERENCE} is not in {results_dir}; cannot compute ratios")
    ref = run[REFERENCE]["mean_ns"]
    for value in run.values():
        value["ratio"] = value["mean_ns"] / ref
    return run


def main():
    results_dir, baseline_path = sys.argv[1], sys.argv[2]
    run = load_run(results_dir)
    if "--update" in sys.argv:
        entries = {}
        if "--merge" in sys.argv:
            with open(baseline_path) as f:
                entries = json.load(f)["benchmarks"]
        entries.update({k: {"ratio": float(f"{v['ratio']:.6g}"), "alloc_bytes": v["alloc_bytes"],
                            "mean_ns": round(v["mean_ns"], 1)} for k, v in run.items()})
        doc = {
            "reference": REFERENCE,
            "updated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
            "machine": f"{os.cpu_count()} cores",
            "benchmarks": dict(sorted(entries.items())),
        }
        with open(baseline_path, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"gate: baseline written to {baseline_path} ({len(run)} benchmarks)")
        return 0

    with open(baseline_path) as f:
        baseline = json.load(f)["benchmarks"]
    if os.environ.get("ONLY"):
        with open(os.environ["ONLY"]) as f:
            only = set(f.read().split())
        baseline = {k: v for k, v in baseline.items() if k in only}
    failures = []
    suspects = []
    print(f"{'benchmark':58} {'alloc B/op':>18} {'time ÷ ref':>22}  verdict")
    for name, base in sorted(baseline.items()):
        cur = run.get(name)
        if cur is None:
            failures.append(f"{name}: missing from this run")
            print(f"{name:58} {'–':>18} {'–':>22}  MISSING")
            continue
        verdicts = []
        alloc_limit = base["alloc_bytes"] + max(ALLOC_SLACK_BYTES, base["alloc_bytes"] * ALLOC_SLACK_PERCENT / 100)
        if cur["alloc_bytes"] > alloc_limit:
            verdicts.append("ALLOC")
            failures.append(f"{name}: allocates {cur['alloc_bytes']} B/op, baseline {base['alloc_bytes']}")
        margin = NOISY.get(name, TIME_MARGIN)
        change = cur["ratio"] / base["ratio"] - 1 if base["ratio"] else 0
        if change > margin:
            verdicts.append("TIME")
            failures.append(f"{name}: time ratio {cur['ratio']:.3f} vs baseline {base['ratio']:.3f} (+{change:.0%}, margin {margin:.0%})")
        if verdicts:
            suspects.append(name)
        print(f"{name:58} {base['alloc_bytes']:>8} → {cur['alloc_bytes']:<8} {base['ratio']:>9.3f} → {cur['ratio']:<9.3f} "
              f"({change:+.0%})  {' '.join(verdicts) or 'ok'}")
    for name in sorted(set(run) - set(baseline)) if not os.environ.get("ONLY") else []:
        print(f"{name:58} new (not in baseline; run bench/gate.sh --update to add it)")
    if failures:
        print("\ngate: FAILED\n  " + "\n  ".join(failures))
        if os.environ.get("SUSPECTS") and not any(f.endswith("missing from this run") for f in failures):
            with open(os.environ["SUSPECTS"], "w") as f:
                f.write("\n".join(suspects) + "\n")
        return 1
    print(f"\ngate: passed ({len(baseline)} benchmarks; time margin {TIME_MARGIN:.0%}, "
          f"alloc slack max({ALLOC_SLACK_BYTES} B, {ALLOC_SLACK_PERCENT:g}%))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
