#!/usr/bin/env bash
# deploy/check-runtime.sh: runs a published FastProxy binary the way the container image and the
# Helm chart run it, without Docker:
#
#   bash deploy/check-runtime.sh src/FastProxy/bin/Release/net10.0/linux-x64/publish/fastproxy [args...]
#
# (args default to `demo`: the self-contained loopback demo, which exits 0 when it worked.)
#
#   - as a non-root user (UID/GID 65534 unless FASTPROXY_RUNTIME_UID says otherwise), with no
#     supplementary groups, an empty capability bounding set and no_new_privs
#     (runAsNonRoot, capabilities drop ALL, allowPrivilegeEscalation: false);
#   - from a working directory owned by root with mode 0555, holding a root-owned 0555 copy of the
#     binary (the image's /app/fastproxy);
#   - with HOME=/nonexistent and an otherwise empty environment;
#   - when run as root: in a private mount namespace whose root filesystem is remounted read-only
#     (readOnlyRootFilesystem: true; /tmp included; /proc, /sys and /dev/shm stay as they are,
#     as in a pod).
#
# Before running the binary, the script proves the sandbox: the user must fail to write to the
# working directory, to /tmp and to HOME. Exit status 0 only when those writes failed and the
# binary exited 0 (within FASTPROXY_RUNTIME_TIMEOUT seconds, default 120).

# Single-quoted strings below are scripts for an inner shell (or literal text to find): SC2016 is intended.
# shellcheck disable=SC2016
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 <path to the published fastproxy binary> [arguments, default: demo]" >&2
    exit 2
fi
binary="$1"
shift
if [ $# -eq 0 ]; then
    set -- demo
fi
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
    echo "check-runtime: $binary is not an executable file" >&2
    exit 2
fi

run_uid="${FASTPROXY_RUNTIME_UID:-65534}"
timeout_seconds="${FASTPROXY_RUNTIME_TIMEOUT:-120}"
passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; }

# The read-only application directory: root-owned (when we are root), 0555, with the binary.
work=$(mktemp -d "${TMPDIR:-/tmp}/fastproxy-runtime.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
chmod 0755 "$work"
mkdir "$work/app"
cp "$binary" "$work/app/fastproxy"
chmod 0555 "$work/app/fastproxy" "$work/app"
app="$work/app"

# How the process is started.
sandbox=()
user_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent TMPDIR=/tmp)
if [ "$(id -u)" = 0 ]; then
    if ! command -v setpriv >/dev/null 2>&1; then
        echo "check-runtime: setpriv (util-linux) is needed to drop to a non-root user" >&2
        exit 2
    fi
    as_user=(setpriv "--reuid=$run_uid" "--regid=$run_uid" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs --)
    if unshare --mount --propagation private true 2>/dev/null; then
        # A private mount namespace: remounting / read-only there does not touch the host.
        sandbox=(unshare --mount --propagation private -- sh -c 'mount -o remount,bind,ro / && cd "$0" && exec "$@"' "$app")
        echo "sandbox: UID/GID $run_uid, no capabilities, no_new_privs, read-only root filesystem, cwd $app (root, 0555), HOME=/nonexistent"
    else
        sandbox=(sh -c 'cd "$0" && exec "$@"' "$app")
        echo "sandbox: UID/GID $run_uid, no capabilities, no_new_privs, cwd $app (root, 0555), HOME=/nonexistent"
        echo "         (no private mount namespace here, so / is not remounted read-only; /tmp stays writable)"
    fi
else
    # Already not root: we cannot change user or remount; the directory is still read-only.
    as_user=()
    sandbox=(sh -c 'cd "$0" && exec "$@"' "$app")
    echo "sandbox: running as $(id -un) (not root: no user switch, no read-only remount), cwd $app (0555), HOME=/nonexistent"
fi

run() { "${sandbox[@]}" "${as_user[@]}" "${user_env[@]}" "$@"; }

# 1. The sandbox itself: these writes must all fail.
probe_cwd=$(run sh -c 'touch ./write-probe 2>/dev/null && echo writable || echo denied')
if [ "$probe_cwd" = denied ]; then pass "working directory is not writable"; else fail "working directory is writable"; fi
probe_home=$(run sh -c 'mkdir -p "$HOME" 2>/dev/null && touch "$HOME/.write-probe" 2>/dev/null && echo writable || echo denied')
if [ "$probe_home" = denied ]; then pass "HOME ($(run sh -c 'echo $HOME')) is not writable"; else fail "HOME is writable"; fi
if [ "$(id -u)" = 0 ] && [ "${sandbox[0]}" = unshare ]; then
    probe_tmp=$(run sh -c 'touch /tmp/fastproxy-write-probe 2>/dev/null && echo writable || echo denied')
    if [ "$probe_tmp" = denied ]; then pass "/tmp is not writable (read-only root filesystem)"; else fail "/tmp is writable"; fi
fi
probe_user=$(run sh -c 'id -u')
if [ "$probe_user" != 0 ]; then pass "runs as UID $probe_user"; else fail "runs as root"; fi

# 2. The binary.
echo "running: fastproxy $*"
set +e
run timeout --kill-after=5 "$timeout_seconds" ./fastproxy "$@"
status=$?
set -e
if [ "$status" -eq 0 ]; then
    pass "fastproxy $* exited 0 as a non-root user in a read-only directory"
else
    fail "fastproxy $* exited $status$([ "$status" -eq 124 ] && echo " (timed out after ${timeout_seconds}s)")"
fi

echo "check-runtime: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
