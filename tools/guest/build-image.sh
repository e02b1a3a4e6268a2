#!/usr/bin/env bash
# Build softcpu's default guest from Debian 12 i386 packages:
#   OUTDIR/vmlinuz     the Debian 686 kernel (for direct boot: --kernel/--initrd)
#   OUTDIR/initrd.img  gzip newc cpio: static busybox, /init, the IDE disk modules
#   OUTDIR/disk.img    64 MiB raw disk: MBR, p1 FAT16 with SYSLINUX + kernel + initrd,
#                      p2 a 4 MiB raw data area (type 0xDA) for the durability tests
# Idempotent: each step is skipped when its outputs are newer than its inputs.
# Needs root only for apt-get (uses sudo when not root, like tools/install-deps.sh).
set -euo pipefail

refresh=0
[ "${1:-}" = "--refresh" ] && { refresh=1; shift; }
[ $# -eq 1 ] || { echo "usage: $0 [--refresh] OUTDIR" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
debs="$out/debs"
work="$out/work"
mkdir -p "$debs" "$work"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

# The modules /init loads to see the IDE disk as /dev/sda (their dependencies are added).
# The crypto ones are sd_mod's soft dependencies (crc-t10dif and crc64-rocksoft look up the
# "crct10dif" and "crc64-rocksoft" algorithms when they load, which these provide).
disk_modules=(ata_piix crct10dif_generic crc64_rocksoft_generic sd_mod)
# Disk layout, in 512-byte sectors.
disk_mib=64
p1_start=2048
p2_sectors=$((4 * 2048))
p2_start=$((disk_mib * 2048 - p2_sectors))
p1_sectors=$((p2_start - p1_start))

log() { echo "build-image: $*"; }

# $1 newer than every later argument (all must exist)?
up_to_date() {
  local target=$1; shift
  [ -e "$target" ] || return 1
  local dep
  for dep in "$@"; do
    [ "$target" -nt "$dep" ] || return 1
  done
}

# --- host tools -------------------------------------------------------------------------
host_packages=(syslinux syslinux-common mtools dosfstools cpio xz-utils zstd fdisk gzip binutils
               python3)
missing=()
for p in "${host_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
apt_updated=0
# A partial failure (e.g. one mirror mid-sync) still leaves usable lists: warn and go on.
apt_update() {
  [ $apt_updated -eq 0 ] || return 0
  $sudo apt-get update -q || log "warning: apt-get update reported errors; using the lists it got"
  apt_updated=1
}
if [ ${#missing[@]} -gt 0 ]; then
  log "installing host tools: ${missing[*]}"
  apt_update
  $sudo apt-get install -y -q "${missing[@]}"
fi

# --- guest packages (i386) --------------------------------------------------------------
if ! dpkg --print-foreign-architectures | grep -qx i386; then
  log "enabling the i386 architecture"
  $sudo dpkg --add-architecture i386
  apt_updated=0
  apt_update
fi

# Which versions to use. apt-cache is slow here (it re-reads every package list when apt keeps
# no binary cache), so the answer is kept in $debs/resolved for a day; --refresh re-resolves.
resolve() {
  local k kv bv
  k=$(apt-cache depends linux-image-686:i386 2>/dev/null |
      sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-686\)\(:i386\)\?$/\1/p' | sort -V | tail -1)
  [ -n "$k" ] || return 1
  read -r kv bv < <(apt-cache policy "$k:i386" busybox-static:i386 2>/dev/null |
                    awk '/Candidate:/ {printf "%s ", $2}')
  [ -n "$kv" ] && [ "$kv" != "(none)" ] && [ -n "$bv" ] && [ "$bv" != "(none)" ] || return 1
  printf '%s %s\nbusybox-static %s\n' "$k" "$kv" "$bv"
}
resolved="$debs/resolved"
if [ "$refresh" -eq 1 ] || [ -z "$(find "$resolved" -mmin -1440 2>/dev/null)" ]; then
  # The package lists may predate the i386 architecture or be missing on a fresh machine.
  r=$(resolve) || { apt_update; r=$(resolve); } ||
    { echo "cannot resolve linux-image-686:i386 and busybox-static:i386" >&2; exit 1; }
  echo "$r" > "$resolved"
fi
read -r kernel_pkg kernel_ver < <(sed -n 1p "$resolved")
read -r _ busybox_ver < <(sed -n 2p "$resolved")

# Download PKG:i386=VER into $debs unless it is already there; print its path.
fetch() {
  local pkg=$1 ver=$2 f
  for f in "$debs/${pkg}"_*_i386.deb; do
    if [ -e "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$ver" ]; then echo "$f"; return; fi
  done
  log "downloading $pkg:i386 $ver" >&2
  # As root, apt would try to drop to its _apt user, which cannot write here: skip that.
  (cd "$debs" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$pkg:i386=$ver" >&2)
  for f in "$debs/${pkg}"_*_i386.deb; do
    if [ -e "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$ver" ]; then echo "$f"; return; fi
  done
  echo "download of $pkg $ver failed" >&2; exit 1
}
kernel_deb=$(fetch "$kernel_pkg" "$kernel_ver")
busybox_deb=$(fetch busybox-static "$busybox_ver")

# --- unpack -------------------------------------------------------------------------------
# The stamp names the .deb it came from: apt keeps the server's mtime on downloads, so a newer
# package can look older than the stamp.
unpack() {  # DEB DIR
  if [ "$(cat "$2.stamp" 2>/dev/null)" != "$(basename "$1")" ] || [ ! -d "$2" ]; then
    log "unpacking $(basename "$1")"
    rm -rf "$2" && mkdir -p "$2"
    dpkg-deb -x "$1" "$2"
    basename "$1" > "$2.stamp"
  fi
}
unpack "$kernel_deb" "$work/kernel"
unpack "$busybox_deb" "$work/busybox"

kver=${kernel_pkg#linux-image-}
moddir="$work/kernel/lib/modules/$kver"

cp_if_newer() { up_to_date "$2" "$1" || cp "$1" "$2"; }
cp_if_newer "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"

# --- initrd -------------------------------------------------------------------------------
# Modules in load order, each after its dependencies. The package has no modules.dep (depmod
# makes it at install time), so read each module's own "depends=" field from .modinfo.
module_path() {  # NAME -> path relative to $moddir ("-" and "_" are the same in module names)
  (cd "$moddir" && find kernel -regextype posix-extended \
     -regex ".*/${1//[-_]/[-_]}\.ko(\.xz|\.zst)?" | head -1)
}
module_depends() {  # PATH -> names, comma-separated
  case "$1" in
    *.xz) xz -dc "$moddir/$1" ;; *.zst) zstd -qdc "$moddir/$1" ;; *) cat "$moddir/$1" ;;
  esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1
}
declare -A module_seen=()
module_order=()
add_module() {  # NAME: append its dependencies, then itself, to module_order
  local path d
  path=$(module_path "$1")
  [ -n "$path" ] || { echo "module $1 not found in $kver" >&2; exit 1; }
  [ -z "${module_seen[$path]:-}" ] || return 0
  module_seen[$path]=1
  for d in $(module_depends "$path" | tr ',' ' '); do add_module "$d"; done
  module_order+=("$path")
}

# Drop a module's appended signature (module_signature struct + magic, see the kernel's
# scripts/sign-file.c): an unsigned module loads (tainting the kernel once) without the RSA
# check, which costs about 0.2 s per module under emulation.
strip_signature() {  # FILE
  local magic='~Module signature appended~' size siglen
  size=$(stat -c %s "$1")
  [ "$size" -gt 40 ] && [ "$(tail -c 28 "$1" | head -c 27)" = "$magic" ] || return 0
  siglen=$(tail -c 32 "$1" | head -c 4 | od -An -tu1 | awk '{print $1*16777216+$2*65536+$3*256+$4}')
  truncate -s $((size - 28 - 12 - siglen)) "$1"
}

initrd_inputs=("$here/init" "$here/build-image.sh" "$work/kernel.stamp" "$work/busybox.stamp")
if ! up_to_date "$out/initrd.img" "${initrd_inputs[@]}"; then
  log "building initrd.img"
  root="$work/initrd-root"
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,root,lib/modules}
  cp "$work/busybox/bin/busybox" "$root/bin/busybox"
  # The other applet links are made at boot (busybox --install -s), so the build never runs
  # the i386 binary on the host.
  ln -s busybox "$root/bin/sh"
  install -m 0755 "$here/init" "$root/init"
  : > "$root/lib/modules/load-order"
  for m in "${disk_modules[@]}"; do add_module "$m"; done
  for m in "${module_order[@]}"; do
    base=$(basename "$m"); base=${base%.xz}; base=${base%.zst}
    case "$m" in
      *.xz)  xz -dc "$moddir/$m" > "$root/lib/modules/$base" ;;
      *.zst) zstd -qdc "$moddir/$m" > "$root/lib/modules/$base" ;;
      *)     cp "$moddir/$m" "$root/lib/modules/$base" ;;
    esac
    strip_signature "$root/lib/modules/$base"
    echo "$base" >> "$root/lib/modules/load-order"
  done
  echo "$kver" > "$root/etc/kernel-version"
  # A /dev/console node without root: a hand-written newc entry (mode 020600, char 5:1)
  # appended as a second archive; the kernel unpacks concatenated archives in order.
  newc_entry() {  # NAME MODE RDEVMAJ RDEVMIN
    local name=$1 namesize=$(( ${#1} + 1 ))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
      0 "$2" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0
    printf '%s\0' "$name"
    local pad=$(( (4 - (110 + namesize) % 4) % 4 ))
    head -c "$pad" /dev/zero
  }
  {
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --quiet)
    newc_entry dev/console $((0020600)) 5 1
    newc_entry 'TRAILER!!!' 0 0 0
  } | gzip -9 -n > "$out/initrd.img.tmp"
  mv "$out/initrd.img.tmp" "$out/initrd.img"
fi

# --- benchmark userland (bench/guest_bench.py) --------------------------------------------
# Debian's gzip, bzip2, xz-utils and lua5.4 with the shared libraries they load, the
# benchmark's input and scripts (tools/guest/bench/), packed as a second, uncompressed cpio
# archive (bench/bench.cpio) and appended to the initramfs: initrd-bench.img. The kernel
# unpacks both archives into the same rootfs. initrd.img and disk.img stay as they were, so
# `make run` and the Linux tests boot exactly what they did.
bench_roots=(gzip bzip2 xz-utils lua5.4)
bench_bins=(gzip bzip2 xz lua5.4)   # the programs, found in bin/ or usr/bin/ of those packages
bench_src="$here/bench"
bench_out="$out/bench"
bench_debs="$work/bench-debs"
mkdir -p "$bench_out" "$bench_debs"

# The shared-library packages (lib*) a .deb's Pre-Depends and Depends name (first
# alternative, version and architecture qualifiers dropped). Other dependencies (dpkg,
# install-info, readline-common, gcc-12-base) hold no library a program loads.
deb_lib_depends() {  # DEB
  { dpkg-deb -f "$1" Pre-Depends; dpkg-deb -f "$1" Depends; } | tr ',' '\n' |
    sed 's/|.*//; s/(.*)//; s/:.*//; s/[[:space:]]//g' | grep '^lib' | sort -u || true
}
# The candidate versions of i386 packages: "NAME VERSION" lines (one apt-cache call).
candidates() {  # NAME...
  apt-cache policy "${@/%/:i386}" 2>/dev/null |
    awk '/^[^ ]/ {p = $1; sub(/:$/, "", p); sub(/:i386$/, "", p)}
         /^ *Candidate:/ && $2 != "(none)" {print p, $2}'
}
# The packages' dependency closure, resolved level by level from the downloaded .debs'
# fields; writes "NAME VERSION" lines to $debs/resolved-bench.
resolve_bench() {
  local -A ver=()
  local queue=("${bench_roots[@]}") batch=() p v d deb
  : > "$debs/resolved-bench.tmp"
  while [ ${#queue[@]} -gt 0 ]; do
    batch=()
    mapfile -t batch < <(for p in "${queue[@]}"; do [ -n "${ver[$p]:-}" ] || echo "$p"; done |
                         sort -u)
    queue=()
    [ ${#batch[@]} -gt 0 ] || break
    while read -r p v; do ver[$p]=$v; done < <(candidates "${batch[@]}")
    for p in "${batch[@]}"; do
      [ -n "${ver[$p]:-}" ] || { echo "no candidate for $p:i386" >&2; return 1; }
      deb=$(fetch "$p" "${ver[$p]}") || return 1
      echo "$p ${ver[$p]}" >> "$debs/resolved-bench.tmp"
      for d in $(deb_lib_depends "$deb"); do [ -n "${ver[$d]:-}" ] || queue+=("$d"); done
    done
  done
  mv "$debs/resolved-bench.tmp" "$debs/resolved-bench"
}
if [ "$refresh" -eq 1 ] || [ -z "$(find "$debs/resolved-bench" -mmin -1440 2>/dev/null)" ]; then
  resolve_bench || { apt_update; resolve_bench; } ||
    { echo "cannot resolve ${bench_roots[*]} (i386) and their libraries" >&2; exit 1; }
fi
# Unpacked once per resolution: resolved.stamp is a copy of the list it was unpacked from.
bench_unpacked=1
cmp -s "$debs/resolved-bench" "$bench_debs/resolved.stamp" || bench_unpacked=0
while read -r p v; do [ -d "$bench_debs/$p" ] || bench_unpacked=0; done < "$debs/resolved-bench"
if [ $bench_unpacked -eq 0 ]; then
  while read -r p v; do
    unpack "$(fetch "$p" "$v")" "$bench_debs/$p"
  done < "$debs/resolved-bench"
  cp "$debs/resolved-bench" "$bench_debs/resolved.stamp"
fi

# The input: generated from a fixed seed (gen-input.py checks its sha256).
if ! up_to_date "$bench_out/input.bin" "$bench_src/gen-input.py"; then
  log "generating the benchmark input"
  python3 "$bench_src/gen-input.py" "$bench_out/input.bin" > "$bench_out/input.txt"
fi

elf_needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
elf_interp() { readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p'; }
find_in_debs() {  # RELATIVE-PATH... -> the first that exists in an unpacked package
  local rel d
  for rel in "$@"; do
    for d in "$bench_debs"/*/; do
      [ -e "$d$rel" ] && { echo "$d$rel"; return 0; }
    done
  done
  return 1
}

bench_inputs=("$here/build-image.sh" "$bench_out/input.bin" "$bench_debs/resolved.stamp"
              "$bench_src"/*.lua "$bench_src/bench.sh")
if ! up_to_date "$bench_out/bench.cpio" "${bench_inputs[@]}"; then
  log "building bench/bench.cpio"
  root="$work/bench-root"
  rm -rf "$root"
  mkdir -p "$root/opt/bench/bin" "$root/lib/i386-linux-gnu"
  manifest="$bench_out/manifest.txt.tmp"
  { echo "# packages (Debian i386)"; cat "$debs/resolved-bench"; echo "# files"; } > "$manifest"
  elves=()
  for b in "${bench_bins[@]}"; do
    src=$(find_in_debs "bin/$b" "usr/bin/$b") || { echo "no $b in the packages" >&2; exit 1; }
    install -m 0755 "$src" "$root/opt/bench/bin/${b%5.4}"   # lua5.4 -> lua
    elves+=("$root/opt/bench/bin/${b%5.4}")
  done
  # The ELF interpreter and the NEEDED closure, from the unpacked packages (symlinks
  # followed: each library under its soname, the name the dynamic loader looks for).
  interp=$(elf_interp "${elves[0]}")
  [ "$interp" = /lib/ld-linux.so.2 ] || { echo "unexpected ELF interpreter '$interp'" >&2; exit 1; }
  # As in Debian: the loader in the multiarch directory, /lib/ld-linux.so.2 a link to it.
  src=$(find_in_debs "lib/i386-linux-gnu/${interp##*/}") ||
    { echo "no $interp in the packages" >&2; exit 1; }
  cp -L "$src" "$root/lib/i386-linux-gnu/${interp##*/}"
  ln -s "i386-linux-gnu/${interp##*/}" "$root$interp"
  i=0
  while [ $i -lt ${#elves[@]} ]; do
    for lib in $(elf_needed "${elves[$i]}"); do
      dst="$root/lib/i386-linux-gnu/$lib"
      [ -e "$dst" ] && continue
      src=$(find_in_debs "lib/i386-linux-gnu/$lib" "usr/lib/i386-linux-gnu/$lib") ||
        { echo "$lib (needed by $(basename "${elves[$i]}")) is in none of the packages" >&2; exit 1; }
      cp -L "$src" "$dst"
      elves+=("$dst")
    done
    i=$((i + 1))
  done
  cp "$bench_out/input.bin" "$root/opt/bench/input.bin"
  sed -n 1p "$bench_out/input.txt" | awk '{print $2 "  /opt/bench/input.bin"}' > "$root/opt/bench/input.sha256"
  install -m 0644 "$bench_src"/*.lua "$root/opt/bench/"
  install -m 0755 "$bench_src/bench.sh" "$root/opt/bench/bench.sh"
  # Reproducible: fixed mtimes, sorted names, owner 0:0, no host inode numbers.
  find "$root" -exec touch -h -d @0 {} +
  (cd "$root" && find . -mindepth 1 -printf '%M %8s %p\n' | LC_ALL=C sort -k3) >> "$manifest"
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
     cpio -o -H newc --owner 0:0 --reproducible --quiet) > "$bench_out/bench.cpio.tmp"
  mv "$manifest" "$bench_out/manifest.txt"
  mv "$bench_out/bench.cpio.tmp" "$bench_out/bench.cpio"
fi
# The kernel reads an uncompressed archive that follows a compressed one only at a 4-byte
# aligned offset (zero bytes between them are skipped): pad initrd.img to a multiple of 4.
if ! up_to_date "$out/initrd-bench.img" "$out/initrd.img" "$bench_out/bench.cpio"; then
  log "building initrd-bench.img"
  {
    cat "$out/initrd.img"
    head -c $(( (4 - $(stat -c %s "$out/initrd.img") % 4) % 4 )) /dev/zero
    cat "$bench_out/bench.cpio"
  } > "$out/initrd-bench.img.tmp"
  mv "$out/initrd-bench.img.tmp" "$out/initrd-bench.img"
fi

# --- disk image ---------------------------------------------------------------------------
syslinux_lib=/usr/lib/syslinux
disk_inputs=("$out/vmlinuz" "$out/initrd.img" "$here/syslinux.cfg" "$here/build-image.sh")
if ! up_to_date "$out/disk.img" "${disk_inputs[@]}"; then
  log "building disk.img"
  fat="$work/part1.img"
  rm -f "$fat" "$out/disk.img.tmp"
  # -h: hidden sectors = the partition's start, which the boot sector needs to find itself.
  mkfs.fat -F 16 -n SOFTCPU -h "$p1_start" -C "$fat" $((p1_sectors / 2)) > /dev/null
  export MTOOLS_SKIP_CHECK=1
  mcopy -i "$fat" "$out/vmlinuz" ::vmlinuz
  mcopy -i "$fat" "$out/initrd.img" ::initrd.img
  mcopy -i "$fat" "$here/syslinux.cfg" ::syslinux.cfg
  syslinux --install "$fat"       # mtools-based: no mount, no root
  truncate -s "${disk_mib}M" "$out/disk.img.tmp"
  sfdisk --quiet "$out/disk.img.tmp" <<SFDISK
label: dos
start=$p1_start, size=$p1_sectors, type=6, bootable
start=$p2_start, size=$p2_sectors, type=da
SFDISK
  dd if="$syslinux_lib/mbr/mbr.bin" of="$out/disk.img.tmp" bs=440 count=1 conv=notrunc status=none
  dd if="$fat" of="$out/disk.img.tmp" bs=512 seek="$p1_start" conv=notrunc,sparse status=none
  rm -f "$fat"
  mv "$out/disk.img.tmp" "$out/disk.img"
fi

# The kernel command line for direct boot: the one the boot loader passes.
sed -n 's/^ *APPEND //p' "$here/syslinux.cfg" > "$out/cmdline.txt"

log "kernel $kver"
for f in vmlinuz initrd.img disk.img cmdline.txt initrd-bench.img; do
  printf '%s\t%s bytes\n' "$out/$f" "$(stat -c %s "$out/$f")"
done
