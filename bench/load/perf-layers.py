#!/usr/bin/env python3
"""CPU per request by layer, from a flat perf profile of one proxy process.

    perf-layers.py SYMBOLS REQUESTS HZ
    perf-layers.py --self-test

SYMBOLS is `perf report --sort dso,sym --stdio -n -g none` of a `perf record -F HZ` over REQUESTS
requests (bench/load/profile.sh MODE=perf writes it). Symbols are sorted into layers: the kernel,
Kestrel, SocketsHttpHandler, the GC, ... The names of the native-AOT binary and those of the JIT's
perf map (DOTNET_PerfMapEnabled=1) sort into the same layers, so the two builds can be compared
layer by layer, which is how perf-baselines/CHANGES.md (round 16) found where the JIT is ahead.
A layer's time includes what the compiler inlined into it from other layers, and the JIT inlines
differently from the native compiler: compare sums of layers rather than one small layer.
"""
import re
import sys
from collections import Counter

# The first matching rule names the layer. Patterns match the native binary's mangled names
# (S_P_CoreLib_System_Threading_Monitor__Enter) and the perf map's ([System.Private.CoreLib]
# System.Threading.Monitor::Enter), so that both builds land in the same layers.
RULES = [
    ("GC (collections, stack walks)", r"SVR::|WKS::|gc_heap|GCHeap|libunwind|GcInfoDecoder|GcSlotDecoder|NativeCodeManager"),
    ("memory fill and copy (libc)", r"__mem(set|move|cpy)"),
    ("runtime helpers (write barriers, casts, dispatch, allocation)",
     r"^Rhp|^Rh[A-Z]|WriteBarrier|CastHelpers|TypeCast|VirtualDispatch|InterfaceDispatch|GVMLookup|TypeLoaderExports|^stub "),
    ("locks (Monitor, Lock)", r"Threading[._]Monitor|Threading[._]Lock\b|Threading_Lock__"),
    ("FastProxy", r"fastproxy_FastProxy|\[fastproxy\]"),
    ("Kestrel and ASP.NET Core", r"AspNetCore|Microsoft[._]Net[._]Http[._]Headers"),
    ("SocketsHttpHandler", r"System[._]Net[._]Http"),
    ("sockets (System.Net.Sockets, native shim, libc)", r"System[._]Net[._]Sockets|SystemNative_|__send|__libc_recv|epoll"),
    ("System.IO.Pipelines", r"Pipelines"),
    ("CoreLib (tasks, thread pool, strings)", r"S_P_CoreLib|System\.Private\.CoreLib|^String__"),
    ("other .NET libraries", r"System[._]|Microsoft[._]"),
]
LINE = re.compile(r"^\s+[0-9.]+%\s+(\d+)\s+(\S.*?)\s{2,}\[(.)\]\s+(.*)$")


def layer(dso: str, privilege: str, symbol: str) -> str:
    if privilege == "k" or "kernel" in dso:
        return "kernel"
    if "clrjit" in dso:
        return "JIT compiler"
    for name, pattern in RULES:
        if re.search(pattern, symbol):
            return name
    if "libcoreclr" in dso:
        # libcoreclr.so ships without its symbols: the GC, stubs and helpers stay unnamed.
        return "CoreCLR runtime, unnamed (GC, helpers, stubs)"
    if "System.Native" in dso:
        return "sockets (System.Net.Sockets, native shim, libc)"
    return f"other: {dso}"


# One symbol of each layer as each build names it (perf report lines of round 16's profiles), so
# that CI notices when a rule stops sorting one of the two builds' names where the other's go.
SELF_TEST = [
    ("fastproxy", "[.]", "S_P_CoreLib_System_Threading_Monitor__Enter", "locks (Monitor, Lock)"),
    ("fastproxy", "[.]", "fastproxy_FastProxy_Forwarding_HttpForwarder__ForwardAsync_d__14__MoveNext", "FastProxy"),
    ("[JIT] tid 16107", "[.]", "instance void [fastproxy] FastProxy.Forwarding.HttpForwarder+<ForwardAsync>d__14::MoveNext()[OptimizedTier1]", "FastProxy"),
    ("fastproxy", "[.]", "Microsoft_AspNetCore_Server_Kestrel_Core_Microsoft_AspNetCore_Server_Kestrel_Core_Internal_Http_HttpProtocol__Reset", "Kestrel and ASP.NET Core"),
    ("[JIT] tid 16107", "[.]", "instance void [Microsoft.AspNetCore.Server.Kestrel.Core] Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.HttpProtocol::Reset()[OptimizedTier1]", "Kestrel and ASP.NET Core"),
    ("fastproxy", "[.]", "System_Net_Http_System_Net_Http_HttpConnection__WriteHeaderCollection", "SocketsHttpHandler"),
    ("[JIT] tid 16107", "[.]", "instance void [System.Net.Http] System.Net.Http.HttpConnection::WriteHeaderCollection(class System.Net.Http.Headers.HttpHeaders,string)[OptimizedTier1]", "SocketsHttpHandler"),
    ("fastproxy", "[.]", "System_Net_Sockets_System_Net_Sockets_SocketPal__TryCompleteReceive", "sockets (System.Net.Sockets, native shim, libc)"),
    ("[JIT] tid 16107", "[.]", "bool [System.Net.Sockets] System.Net.Sockets.SocketPal::TryCompleteReceive(class System.Net.Sockets.SafeSocketHandle)[OptimizedTier1]", "sockets (System.Net.Sockets, native shim, libc)"),
    ("libc.so.6", "[.]", "__send", "sockets (System.Net.Sockets, native shim, libc)"),
    ("fastproxy", "[.]", "RhpAssignRefESI", "runtime helpers (write barriers, casts, dispatch, allocation)"),
    ("[JIT] tid 16107", "[.]", "stub InitThreadManagerPerfMapData<JIT_CopiedWriteBarriers>", "runtime helpers (write barriers, casts, dispatch, allocation)"),
    ("[JIT] tid 16107", "[.]", "object [System.Private.CoreLib] System.Runtime.CompilerServices.CastHelpers::IsInstanceOfClass(void*,object)[OptimizedTier1]", "runtime helpers (write barriers, casts, dispatch, allocation)"),
    ("fastproxy", "[.]", "SVR::gc_heap::mark_through_cards_for_segments", "GC (collections, stack walks)"),
    ("fastproxy", "[.]", "libunwind::LocalAddressSpace::getEncodedP", "GC (collections, stack walks)"),
    ("fastproxy", "[.]", "S_P_CoreLib_System_Threading_ExecutionContext__RunInternal", "CoreLib (tasks, thread pool, strings)"),
    ("[JIT] tid 16107", "[.]", "void [System.Private.CoreLib] System.Threading.ExecutionContext::RunInternal(class System.Threading.ExecutionContext)[OptimizedTier1]", "CoreLib (tasks, thread pool, strings)"),
    ("fastproxy", "[.]", "System_IO_Pipelines_System_IO_Pipelines_Pipe__AdvanceReader_1", "System.IO.Pipelines"),
    ("libcoreclr.so", "[.]", "0x00000000002e50bc", "CoreCLR runtime, unnamed (GC, helpers, stubs)"),
    ("libclrjit.so", "[.]", "0x0000000000123456", "JIT compiler"),
    ("[kernel.kallsyms]", "[k]", "finish_task_switch.isra.0", "kernel"),
]


def self_test() -> int:
    failures = 0
    for dso, privilege, symbol, expected in SELF_TEST:
        line = f"     0.50%           100  {dso}    {privilege} {symbol}"
        match = LINE.match(line)
        got = layer(*match.groups()[1:]) if match else "(line not parsed)"
        if got != expected:
            print(f"{symbol} ({dso}): layer '{got}', expected '{expected}'", file=sys.stderr)
            failures += 1
    print(f"perf-layers self-test: {len(SELF_TEST) - failures} of {len(SELF_TEST)} symbols sorted as expected")
    return 1 if failures else 0


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    path, requests, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    samples = Counter()
    with open(path, errors="replace") as report:
        for line in report:
            match = LINE.match(line)
            if match:
                count, dso, privilege, symbol = match.groups()
                samples[layer(dso, privilege, symbol)] += int(count)
    total = sum(samples.values())
    if total == 0:
        print(f"no samples in {path}", file=sys.stderr)
        return 1
    micros = 1e6 / hz / requests
    user = total - samples["kernel"]
    print(f"\n  CPU per request by layer ({total} samples at {hz:.0f} Hz over {requests} requests; "
          f"perf's own overhead included)")
    for name, count in samples.most_common():
        print(f"  {count * micros:7.2f} us {100 * count / total:5.1f} %  {name}")
    print(f"  {total * micros:7.2f} us  total, of which user space {user * micros:.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
