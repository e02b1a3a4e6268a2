#!/usr/bin/env bash
# Install the Debian 12 packages softcpu needs to build and test, if any are missing.
# seabios is the default firmware at run time; gdb drives the debugger tests; matplotlib draws
# bench/tcache_sweep.py's plots; toml++ reads system descriptions (docs/config.md); CLI11 parses
# the command line (tools/options.cpp).
# libclang-rt-19-dev: libFuzzer and the sanitizer runtimes for make fuzz-smoke (tests/fuzz).
set -euo pipefail
packages=(cmake ninja-build pkg-config g++ libzydis-dev libzycore-dev libuv1-dev libgtest-dev
          libgmock-dev nasm gcc-multilib g++-multilib python3 binutils seabios gdb llvm-19-dev
          clang-19 libclang-rt-19-dev python3-matplotlib libtomlplusplus-dev libcli11-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q "${missing[@]}"
