#!/usr/bin/env bash
# Downloads, once, the .debs a `debootstrap --variant=minbase` of Debian bookworm amd64 needs, for
# the LTSP-style chroot fixture (test/helpers/chroot.ts). Tests never reach Debian's mirror: they
# serve these files from a local, test-signed repository through aptgate.
#
# Result (outside the repository; APTGATE_TEST_MINBASE overrides the location):
#   <cache>/debs/<file>.deb  the packages, named like in the archive's pool (no %3a epochs)
#   <cache>/Packages         the archive's Packages stanzas of exactly those packages (their
#                            Priority matters: debootstrap picks the minbase set by the archive's
#                            Priority, which for some packages differs from the .deb's control)
#   <cache>/SHA256SUMS       of all of the above; written last
# The cache is built in <cache>.tmp.$$ and renamed into place, so a half download never looks
# complete. Does nothing when the cache exists and `sha256sum -c SHA256SUMS` passes.
set -Eeuo pipefail
trap 'echo "!! fetch-minbase.sh failed at line $LINENO: $BASH_COMMAND" >&2' ERR

cache=${APTGATE_TEST_MINBASE:-/var/cache/aptgate-test/minbase-bookworm-amd64}
mirror=http://deb.debian.org/debian
suite=bookworm
arch=amd64
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

complete() {
  [[ -s "$1/SHA256SUMS" && -s "$1/Packages" && -d "$1/debs" ]] || return 1
  (cd "$1" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1) || return 1
  # every .deb in debs/ is listed (nothing stray, nothing half copied)
  local listed present
  listed=$(grep -c ' debs/' "$1/SHA256SUMS" || true)
  present=$(find "$1/debs" -maxdepth 1 -type f -name '*.deb' | wc -l)
  [[ "$listed" -gt 0 && "$listed" -eq "$present" ]]
}

if complete "$cache"; then
  echo "present: $cache ($(find "$cache/debs" -name '*.deb' | wc -l) debs)"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap wget)" >&2; exit 1; }
[[ -r "$keyring" ]] || { echo "$keyring is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

mkdir -p "$(dirname "$cache")"
build="$cache.tmp.$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/aptgate-minbase.XXXXXX")
cleanup() {
  # --download-only mounts nothing, but never cross into another file system anyway
  rm -rf --one-file-system "$work" "$build"
}
trap cleanup EXIT
rm -rf --one-file-system "$build"
mkdir -p "$build/debs"

echo "debootstrap --download-only of $suite $arch minbase from $mirror"
if ! debootstrap --variant=minbase --download-only --arch="$arch" --keyring="$keyring" \
    "$suite" "$work/root" "$mirror" >"$work/debootstrap.out" 2>&1; then
  cat "$work/debootstrap.out" >&2
  echo "debootstrap --download-only failed (see above)" >&2
  exit 1
fi

shopt -s nullglob
lists=("$work"/root/var/lib/apt/lists/*_dists_"${suite}"_main_binary-"${arch}"_Packages)
debs=("$work"/root/var/cache/apt/archives/*.deb)
shopt -u nullglob
[[ ${#lists[@]} -eq 1 ]] || { echo "expected one Packages list in $work/root/var/lib/apt/lists, found ${#lists[@]}" >&2; exit 1; }
[[ ${#debs[@]} -gt 0 ]] || { echo "debootstrap downloaded no .debs" >&2; exit 1; }

# "Package Version Architecture" of every downloaded .deb, from its own control file
triples="$work/triples"
: >"$triples"
for d in "${debs[@]}"; do
  dpkg-deb --show --showformat='${Package} ${Version} ${Architecture}\n' "$d" >>"$triples"
done

# the archive's stanzas of exactly those packages (the stanzas, not the .debs' control files)
awk -v want="$triples" '
  BEGIN { while ((getline l < want) > 0) wanted[l] = 1; RS = ""; ORS = "\n\n" }
  {
    p = v = a = ""
    n = split($0, lines, "\n")
    for (i = 1; i <= n; i++) {
      if (lines[i] ~ /^Package: /) p = substr(lines[i], 10)
      else if (lines[i] ~ /^Version: /) v = substr(lines[i], 10)
      else if (lines[i] ~ /^Architecture: /) a = substr(lines[i], 15)
    }
    if ((p " " v " " a) in wanted) print
  }' "${lists[0]}" >"$build/Packages"

stanzas=$(grep -c '^Package: ' "$build/Packages" || true)
[[ "$stanzas" -eq ${#debs[@]} ]] || {
  echo "the archive's Packages has $stanzas stanzas for the ${#debs[@]} downloaded .debs" >&2
  exit 1
}

# "Package Version Architecture Filename SHA256" of every kept stanza
index="$work/index"
awk 'BEGIN { RS = "" }
  {
    p = v = a = f = h = ""
    n = split($0, lines, "\n")
    for (i = 1; i <= n; i++) {
      if (lines[i] ~ /^Package: /) p = substr(lines[i], 10)
      else if (lines[i] ~ /^Version: /) v = substr(lines[i], 10)
      else if (lines[i] ~ /^Architecture: /) a = substr(lines[i], 15)
      else if (lines[i] ~ /^Filename: /) f = substr(lines[i], 11)
      else if (lines[i] ~ /^SHA256: /) h = substr(lines[i], 9)
    }
    print p, v, a, f, h
  }' "$build/Packages" >"$index"

# copy each .deb under its pool name, checking it against its stanza's SHA256
for d in "${debs[@]}"; do
  read -r p v a < <(dpkg-deb --show --showformat='${Package} ${Version} ${Architecture}\n' "$d")
  filename="" sha=""
  while read -r ip iv ia ifile isha; do
    if [[ "$ip" == "$p" && "$iv" == "$v" && "$ia" == "$a" ]]; then filename=$ifile sha=$isha; break; fi
  done <"$index"
  [[ -n "$filename" && -n "$sha" ]] || { echo "no Filename/SHA256 for $p $v $a in the archive's Packages" >&2; exit 1; }
  [[ "$(sha256sum <"$d" | cut -d' ' -f1)" == "$sha" ]] || { echo "$d does not match the archive's SHA256 $sha" >&2; exit 1; }
  [[ ! -e "$build/debs/${filename##*/}" ]] || { echo "two .debs named ${filename##*/}" >&2; exit 1; }
  cp -- "$d" "$build/debs/${filename##*/}"
done

(cd "$build" && find debs -type f -name '*.deb' | LC_ALL=C sort | xargs sha256sum -- && sha256sum -- Packages) >"$build/SHA256SUMS.tmp"
sync -f "$build/SHA256SUMS.tmp" 2>/dev/null || true
mv -- "$build/SHA256SUMS.tmp" "$build/SHA256SUMS"
complete "$build" || { echo "the freshly built cache $build does not verify" >&2; exit 1; }

# into place: an incomplete old cache is moved aside first (rename of a directory onto a
# non-empty one fails, it does not merge)
if [[ -e "$cache" ]]; then
  old="$cache.old.$$"
  mv -T -- "$cache" "$old"
  rm -rf --one-file-system "$old"
fi
if ! mv -T -- "$build" "$cache"; then
  complete "$cache" || { echo "could not move $build to $cache" >&2; exit 1; }
  echo "present: $cache (made by a concurrent run)"
  exit 0
fi
echo "fetched: $cache (${#debs[@]} debs, $(du -sh "$cache" | cut -f1))"
