#!/usr/bin/env bash
# Proves the linux-arm64 native-AOT build on an x86_64 Debian machine:
#   1. installs the cross toolchain if it is missing (the same packages Dockerfile.aot's cross stage
#      installs),
#   2. publishes linux-arm64 with zero warnings (the same publish command as Dockerfile.aot),
#   3. checks that the result is an aarch64 ELF,
#   4. runs the binary's demo (a complete loopback forward with a fake token issuer) under
#      qemu-user, against Debian's arm64 glibc and OpenSSL, as user 1654 from a read-only directory.
# Exits non-zero on any failure. Runs as root (CI does): it installs packages and drops to the
# image's user for the demo.
#
#   bash deploy/check-arm64.sh [output-dir]      # default: artifacts/linux-arm64
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
out=$(realpath -m "${1:-artifacts/linux-arm64}")
started=$(date +%s)
say() { printf 'check-arm64 (%ss): %s\n' "$(( $(date +%s) - started ))" "$*"; }
fail() { printf 'check-arm64: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs packages and runs the demo as user 1654)"
[ "$(uname -m)" = x86_64 ] || fail "this check cross-compiles from x86_64; this machine is $(uname -m)"

# The cross toolchain. The ILCompiler links with clang --target=aarch64-linux-gnu, which finds
# Debian's cross layout (/usr/aarch64-linux-gnu, /usr/lib/gcc-cross) by itself, so no SysRoot is
# needed. gcc-aarch64-linux-gnu brings the aarch64 binutils (ld.bfd, and the objcopy that
# FastProxy.csproj names for stripping) and libgcc. libc6-dev-arm64-cross holds the target's crt*.o
# and libm/librt/libc link files: gcc-aarch64-linux-gnu only recommends it, and without it the link
# fails with "cannot find -lm / -lrt". No target zlib: the ILCompiler's runtime pack links its own
# libz.a. qemu-user and file are for the checks below only.
cross_packages="clang gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
publish=(dotnet publish src/FastProxy -c Release -r linux-arm64 -p:TreatWarningsAsErrors=true)
# Dockerfile.aot's cross stage must install the same packages and run the same publish command (with
# its "${rid}"), or this check would prove a build that the image does not do.
grep -qF "amd64/arm64) packages=\"$cross_packages\"" Dockerfile.aot ||
  fail "Dockerfile.aot's amd64/arm64 cross stage must install exactly: $cross_packages"
dockerfile_publish='dotnet publish src/FastProxy -c Release -r "${rid}" -p:TreatWarningsAsErrors=true'
grep -qF "$dockerfile_publish" Dockerfile.aot || fail "Dockerfile.aot must publish with: $dockerfile_publish"
packages=($cross_packages qemu-user file)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
mkdir -p "$out"
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  # Quiet unless it fails (apt and debconf chatter goes to the log).
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}"; } > "$out/apt-install.log" 2>&1 ||
    { cat "$out/apt-install.log" >&2; fail "could not install ${missing[*]}"; }
fi

say "${publish[*]}"
log="$out/publish.log"
# Own artifacts path: the solution's bin/obj (used by CI's x64 steps) stay untouched.
"${publish[@]}" --artifacts-path "$out/build" 2>&1 | tee "$log"
if grep -qE "warning (IL|CS|CA|NU)[0-9]+" "$log"; then
  fail "the linux-arm64 publish produced warnings (see above)"
fi
binary="$out/build/publish/FastProxy/release_linux-arm64/fastproxy"
[ -x "$binary" ] || fail "no binary at $binary"

kind=$(file -b "$binary")
say "$kind"
[[ "$kind" == *"ARM aarch64"* ]] || fail "the binary is not an aarch64 ELF"

# A root file system with Debian's arm64 glibc and OpenSSL (the binary loads libssl.so.3 when it
# starts), for qemu's -L. The packages come from the machine's own apt sources through a private
# apt state for arm64 alone, so the machine's package configuration stays as it is (no
# `dpkg --add-architecture`). Kept between runs outside the repository: it only depends on the
# distribution.
root=/var/cache/fastproxy/arm64-root
if [ ! -e "$root/usr/lib/aarch64-linux-gnu/libssl.so.3" ]; then
  say "unpacking arm64 libc6 and libssl3 into $root"
  apt_state="$out/apt"
  rm -rf "$apt_state" "$root"
  mkdir -p "$apt_state/lists/partial" "$apt_state/cache/archives/partial" "$apt_state/debs" "$root"
  : > "$apt_state/status"
  apt_arm64=(-qq -o APT::Architecture=arm64 -o APT::Architectures::=arm64
    -o Dir::State="$apt_state" -o Dir::State::status="$apt_state/status"
    -o Dir::Cache="$apt_state/cache" -o APT::Sandbox::User=root)
  apt-get "${apt_arm64[@]}" update
  # libssl3t64 is the name from Debian 13 on.
  (cd "$apt_state/debs" && apt-get "${apt_arm64[@]}" download libc6 &&
    { apt-get "${apt_arm64[@]}" download libssl3 2>/dev/null ||
      apt-get "${apt_arm64[@]}" download libssl3t64; })
  for deb in "$apt_state"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
  [ -e "$root/usr/lib/aarch64-linux-gnu/libssl.so.3" ] || fail "libssl.so.3 missing from $root"
fi

# As the image runs it: user 1654 (the chiseled image's "app" user), from a directory it cannot
# write to, with a binary it cannot change.
run_dir=$(mktemp -d)
trap 'rm -rf "$run_dir"' EXIT
cp "$binary" "$run_dir/fastproxy"
chmod 0555 "$run_dir/fastproxy" "$run_dir"
say "qemu-aarch64 -L $root fastproxy demo (as 1654:1654, read-only working directory)"
(cd "$run_dir" && timeout 300 setpriv --reuid=1654 --regid=1654 --clear-groups \
  env HOME=/nonexistent qemu-aarch64 -L "$root" ./fastproxy demo) ||
  fail "the arm64 demo failed under qemu-user (exit $?)"
say "linux-arm64 binary built without warnings and passed its demo under qemu-user"
