#!/bin/sh
# memtest_boot.sh SOFTCPU CACHE_DIR
# Boots Debian's memtest86+ (its 32-bit bzImage, which QEMU boots with -kernel) directly with
# --kernel for 20 s and checks its first screen in the VGA text dump: the banner, the memory
# size it found in the E820 map, a test running and no errors. The package is fetched once
# like tools/guest/build-image.sh fetches the guest's (apt-get download, dpkg-deb -x) and kept
# in CACHE_DIR. Exit 0 pass, 1 fail, 77 skip (the package cannot be fetched).
set -u
softcpu=$1
dir=$2
mkdir -p "$dir"

find_image() {
  find "$dir/root" -type f \( -name 'memtest86+ia32.bin' -o -name 'mt86+x32' \) 2>/dev/null | head -n 1
}

img=$(find_image)
if [ -z "$img" ]; then
  # As root, apt would drop to its _apt user, which cannot write here: skip that.
  if ! (cd "$dir" && apt-get download -q -o APT::Sandbox::User="$(id -un)" memtest86+ >"$dir/download.log" 2>&1); then
    echo "SKIP: cannot fetch Debian's memtest86+ package (apt-get download memtest86+ failed;"
    echo "      run apt-get update first?):"
    sed 's/^/      /' "$dir/download.log"
    exit 77
  fi
  deb=$(ls "$dir"/memtest86+_*.deb 2>/dev/null | head -n 1)
  rm -rf "$dir/root"
  if [ -z "$deb" ] || ! dpkg-deb -x "$deb" "$dir/root"; then
    echo "SKIP: the memtest86+ package could not be unpacked"
    exit 77
  fi
  img=$(find_image)
  if [ -z "$img" ]; then
    echo "SKIP: no 32-bit memtest86+ image (memtest86+ia32.bin or mt86+x32) in $deb"
    exit 77
  fi
fi

echo "memtest_boot: booting $img"
screen="$dir/screen.txt"
rm -f "$screen"
"$softcpu" run --kernel "$img" -m 128 --serial none --timeout 20 --screen-dump "$screen" \
  >"$dir/stdout.txt" 2>"$dir/stderr.txt"
status=$?
cat "$dir/stderr.txt"
[ -f "$screen" ] && cat "$screen"
fail() {
  echo "FAIL: $1 (softcpu exit status $status)"
  exit 1
}
# Still testing when the timeout stops it (124): not a crash, a reset loop or a halt.
[ "$status" -eq 124 ] || fail "expected the 20 s timeout (status 124)"
[ -f "$screen" ] || fail "no screen dump"
grep -q 'Memtest86+ v' "$screen" || fail "no Memtest86+ banner on the screen"
grep -Eq 'Memory *: *12[0-9]MB' "$screen" || fail "memtest did not find the 128 MiB of RAM"
grep -q 'Test #' "$screen" || fail "no test running"
grep -q 'Errors: 0' "$screen" || fail "memtest reports errors"
echo "memtest_boot: PASSED"
