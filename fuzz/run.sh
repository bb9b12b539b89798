#!/usr/bin/env bash
# Fuzzes FastProxy.Protocol with AFL++ through SharpFuzz for a bounded time.
#
#   fuzz/run.sh [SECONDS]     (default 60)
#
# Installs Debian's afl++ if afl-fuzz is missing and the SharpFuzz CLI into fuzz/.tools, builds
# the harness, instruments FastProxy.Protocol.dll (and Snappier.dll, whose decoder sees the raw
# body first), seeds from small generated bodies plus testdata/, and runs afl-fuzz. Exits 1 if
# AFL saved any crash; each is replayed so its exception and stack trace are printed — turn
# them into regression tests in tests/FastProxy.Protocol.Tests/FuzzRegressionTests.cs.
set -euo pipefail

seconds="${1:-60}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
work="$here/.work"
tools="$here/.tools"
out="$work/bin"
seeds="$work/seeds"
findings="$work/findings"

if ! command -v afl-fuzz >/dev/null; then
    echo "afl-fuzz not found; installing Debian's afl++"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq afl++
fi

if [ ! -x "$tools/sharpfuzz" ]; then
    dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools"
fi

rm -rf "$work"
mkdir -p "$work"
dotnet publish "$here/FastProxy.Protocol.Fuzz/FastProxy.Protocol.Fuzz.csproj" -c Release -o "$out" --nologo -v quiet

# Instrumented code reports coverage into AFL's shared memory and faults without it, so seeds
# are written and crashes replayed by an uninstrumented copy.
plain="$work/plain"
cp -r "$out" "$plain"
for assembly in FastProxy.Protocol.dll Snappier.dll; do
    echo "instrumenting $assembly"
    "$tools/sharpfuzz" "$out/$assembly"
done

dotnet "$plain/FastProxy.Protocol.Fuzz.dll" --seeds "$seeds"
cp "$repo"/testdata/remote-write/prometheus-2.42/batch-9402.snappy "$seeds/"
cp "$repo"/testdata/remote-write/prometheus-2.42/batch-12826.snappy "$seeds/"

# Containers seldom let AFL set the core pattern or CPU governor; neither matters for a
# bounded .NET run. The target is a managed program, so AFL's binary checks do not apply.
export AFL_SKIP_CPUFREQ=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_SKIP_BIN_CHECK=1
export AFL_NO_UI=1
export AFL_NO_AFFINITY=1

echo "fuzzing for ${seconds}s (AFL's log: $work/afl.log)"
if ! afl-fuzz -i "$seeds" -o "$findings" -t 10000 -m none -V "$seconds" -- dotnet "$out/FastProxy.Protocol.Fuzz.dll" >"$work/afl.log" 2>&1; then
    tail -n 30 "$work/afl.log" >&2
fi

stats="$findings/default/fuzzer_stats"
if [ -f "$stats" ]; then
    grep -E '^(execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg)' "$stats"
else
    echo "afl-fuzz wrote no statistics; see its output above" >&2
    exit 2
fi

mapfile -t crashes < <(find "$findings/default/crashes" -type f -name 'id:*' 2>/dev/null | sort)
if [ "${#crashes[@]}" -eq 0 ]; then
    echo "no crashes"
    exit 0
fi

echo "${#crashes[@]} crash(es); replaying:"
for crash in "${crashes[@]}"; do
    base64 -w0 "$crash"; echo
    dotnet "$plain/FastProxy.Protocol.Fuzz.dll" --replay "$crash" || true
done
exit 1
