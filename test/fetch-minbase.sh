#!/usr/bin/env bash
# Downloads, once, the .debs a `debootstrap --variant=minbase` of Debian bookworm needs, for amd64
# and for i386, for the LTSP-style chroot fixture (test/helpers/chroot.ts). Tests never reach
# Debian's mirror: they serve these files from a local, test-signed repository through aptgate.
#
# Usage: bash test/fetch-minbase.sh [ARCH...]     (default: amd64 i386)
# `npm test` runs it first (scripts/test-setup.mjs); .ci/run through `npm test`.
# APTGATE_TEST_MINBASE_MIRROR: the Debian mirror to download from (default http://deb.debian.org/debian);
# when it cannot be reached, the script says so and what to do, and leaves nothing behind.
#
# Result, one cache per architecture, outside the repository:
#   $APTGATE_TEST_MINBASE_DIR/minbase-bookworm-<arch>   (APTGATE_TEST_MINBASE_DIR defaults to
#                                                        /var/cache/aptgate-test)
#   APTGATE_TEST_MINBASE, when set, is the amd64 cache itself (as before the i386 one existed);
#   test/helpers/chroot.ts (minbaseCacheDir) resolves the same locations from the same variables.
# Each cache holds:
#   <cache>/debs/<file>.deb  the packages, named like in the archive's pool (no %3a epochs)
#   <cache>/Packages         the archive's Packages stanzas of exactly those packages (their
#                            Priority matters: debootstrap picks the minbase set by the archive's
#                            Priority, which for some packages differs from the .deb's control)
#   <cache>/SHA256SUMS       of all of the above; written last
# The Architecture: all packages are in every cache (the same pool files); chroot.ts publishes
# them once. A cache is built in <cache>.tmp.$$ and renamed into place, so a half download never
# looks complete. Does nothing when every cache exists, `sha256sum -c SHA256SUMS` passes in each,
# and they agree (an Architecture: all package in several caches has the same archive stanza,
# version and SHA256 included, in each). Caches that disagree come from different states of the archive (a point
# release between two fetches): the ones not fetched by this run are fetched again.
set -Eeuo pipefail
trap 'echo "!! fetch-minbase.sh failed at line $LINENO: $BASH_COMMAND" >&2' ERR

parent=${APTGATE_TEST_MINBASE_DIR:-/var/cache/aptgate-test}
mirror=${APTGATE_TEST_MINBASE_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if (($#)); then archs=("$@"); else archs=(amd64 i386); fi
for a in "${archs[@]}"; do
  [[ "$a" =~ ^[a-z0-9]+$ && "$a" != all ]] || { echo "not an architecture: $a" >&2; exit 1; }
done

cache_of() {
  if [[ "$1" == amd64 && -n "${APTGATE_TEST_MINBASE:-}" ]]; then
    printf '%s\n' "$APTGATE_TEST_MINBASE"
  else
    printf '%s\n' "$parent/minbase-$suite-$1"
  fi
}

complete() {
  [[ -s "$1/SHA256SUMS" && -s "$1/Packages" && -d "$1/debs" ]] || return 1
  (cd "$1" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1) || return 1
  # every .deb in debs/ is listed (nothing stray, nothing half copied)
  local listed present
  listed=$(grep -c ' debs/' "$1/SHA256SUMS" || true)
  present=$(find "$1/debs" -maxdepth 1 -type f -name '*.deb' | wc -l)
  [[ "$listed" -gt 0 && "$listed" -eq "$present" ]]
}

# awk: p, v, a = Package, Version, Architecture of the stanza in $0 (with RS = "")
PVA='function pva(   n, i, lines) {
  p = v = a = ""
  n = split($0, lines, "\n")
  for (i = 1; i <= n; i++) {
    if (lines[i] ~ /^Package: /) p = substr(lines[i], 10)
    else if (lines[i] ~ /^Version: /) v = substr(lines[i], 10)
    else if (lines[i] ~ /^Architecture: /) a = substr(lines[i], 15)
  }
}'

# Prints "<package> (all): <version> in <cache> but <version> in <cache>" for every Architecture:
# all package whose archive stanza (version, SHA256, Priority, ...) differs between the given
# (complete) caches; prints nothing when they agree.
disagreements() {
  local c
  for c in "$@"; do
    awk -v cache="$c" "$PVA"'
      BEGIN { RS = ""; OFS = "\t" }
      {
        pva()
        s = $0
        gsub(/[\t\n]/, "\037", s)
        if (a == "all") print p, v, s, cache
      }' "$c/Packages"
  done | awk -F '\t' '
    !($1 in first) { first[$1] = $3; version[$1] = $2; where[$1] = $4; next }
    first[$1] != $3 { print $1 " (all): " version[$1] " in " where[$1] " but " $2 " in " $4 (version[$1] == $2 ? " (other stanza fields differ)" : "") }'
}

# Fetches the cache of one architecture into place (always: the caller decides whether it must).
fetch_one() (
  local arch=$1 cache=$2
  mkdir -p "$(dirname "$cache")"
  build="$cache.tmp.$$"
  work=$(mktemp -d "${TMPDIR:-/tmp}/aptgate-minbase-$arch.XXXXXX")
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
    echo "!! debootstrap --download-only of $suite $arch from $mirror failed (its output is above);" >&2
    echo "   run npm test (or bash test/fetch-minbase.sh) again once $mirror is reachable" >&2
    exit 1
  fi

  shopt -s nullglob
  lists=("$work"/root/var/lib/apt/lists/*_dists_"${suite}"_main_binary-"${arch}"_Packages)
  debs=("$work"/root/var/cache/apt/archives/*.deb)
  shopt -u nullglob
  [[ ${#lists[@]} -eq 1 ]] || { echo "expected one Packages list in $work/root/var/lib/apt/lists, found ${#lists[@]}" >&2; exit 1; }
  [[ ${#debs[@]} -gt 0 ]] || { echo "debootstrap downloaded no .debs for $arch" >&2; exit 1; }

  # "Package Version Architecture" of every downloaded .deb, from its own control file
  triples="$work/triples"
  : >"$triples"
  for d in "${debs[@]}"; do
    dpkg-deb --show --showformat='${Package} ${Version} ${Architecture}\n' "$d" >>"$triples"
  done
  # only this architecture's packages and Architecture: all ones
  if wrong=$(awk -v arch="$arch" '$3 != arch && $3 != "all"' "$triples") && [[ -n "$wrong" ]]; then
    echo "debootstrap --arch=$arch downloaded packages of another architecture: $wrong" >&2
    exit 1
  fi

  # the archive's stanzas of exactly those packages (the stanzas, not the .debs' control files)
  awk -v want="$triples" "$PVA"'
    BEGIN { while ((getline l < want) > 0) wanted[l] = 1; RS = ""; ORS = "\n\n" }
    {
      pva()
      if ((p " " v " " a) in wanted) print
    }' "${lists[0]}" >"$build/Packages"

  stanzas=$(grep -c '^Package: ' "$build/Packages" || true)
  [[ "$stanzas" -eq ${#debs[@]} ]] || {
    echo "the archive's Packages ($arch) has $stanzas stanzas for the ${#debs[@]} downloaded .debs" >&2
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

  # into place: an old (incomplete or stale) cache is moved aside first (rename of a directory
  # onto a non-empty one fails, it does not merge)
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
)

caches=()
for a in "${archs[@]}"; do caches+=("$(cache_of "$a")"); done

need=()
for i in "${!archs[@]}"; do complete "${caches[$i]}" || need+=("$i"); done

if ((${#need[@]} == 0)) && [[ -z "$(disagreements "${caches[@]}")" ]]; then
  for c in "${caches[@]}"; do echo "present: $c ($(find "$c/debs" -name '*.deb' | wc -l) debs)"; done
  exit 0
fi

command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap wget)" >&2; exit 1; }
command -v wget >/dev/null || { echo "wget is not installed (apt-get install wget)" >&2; exit 1; }
[[ -r "$keyring" ]] || { echo "$keyring is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

# Says what could not be fetched, from where, where it would be kept and how to fix it; exits 1.
unreachable() {
  local wanted=() where=() idx=("${need[@]}") i
  ((${#idx[@]})) || idx=("${!archs[@]}")
  for i in "${idx[@]}"; do wanted+=("${archs[$i]}"); where+=("${caches[$i]}"); done
  {
    echo "!! cannot download the minbase .debs of Debian $suite (${wanted[*]}) from $mirror:"
    echo "   $1"
    echo "   The LTSP chroot tests need them. They are downloaded once (about 30 MB per architecture)"
    echo "   and kept in ${where[*]}"
    echo "   (APTGATE_TEST_MINBASE_DIR); the tests themselves never use the network."
    echo "   Fix: let this machine reach $mirror (through an http proxy: export"
    echo "   http_proxy=http://PROXY:PORT/), or set APTGATE_TEST_MINBASE_MIRROR to a reachable Debian"
    echo "   mirror; then run npm test again."
  } >&2
  exit 1
}
# one request first, so that no network says so plainly instead of in debootstrap's words
probe_url=$mirror/dists/$suite/InRelease
if ! probe=$(wget --tries=2 --timeout=30 -nv -O /dev/null -- "$probe_url" 2>&1); then
  unreachable "wget $probe_url: $(printf '%s\n' "$probe" | { grep -v '^\s*$' || true; } | tail -n 2 | tr '\n' ' ')"
fi

declare -A fetched=()
for round in 1 2; do
  for i in "${need[@]}"; do
    fetch_one "${archs[$i]}" "${caches[$i]}"
    fetched[$i]=1
  done
  diff=$(disagreements "${caches[@]}")
  [[ -n "$diff" ]] || break
  if ((round == 2)); then
    echo "the minbase caches still disagree after fetching them all again (the archive changed meanwhile? run again):" >&2
    echo "$diff" >&2
    exit 1
  fi
  # the caches this run did not fetch come from an older state of the archive: fetch them again
  need=()
  for i in "${!archs[@]}"; do [[ -n "${fetched[$i]:-}" ]] || need+=("$i"); done
  echo "the minbase caches disagree on Architecture: all packages (fetched at different times):"
  echo "$diff"
  if ((${#need[@]} == 0)); then
    # all fetched by this run, yet different: the archive changed during the run
    echo "the caches fetched by this run disagree (the archive changed during the run? run again)" >&2
    exit 1
  fi
  again=()
  for i in "${need[@]}"; do again+=("${archs[$i]}"); done
  echo "fetching again: ${again[*]}"
done
for c in "${caches[@]}"; do echo "present: $c ($(find "$c/debs" -name '*.deb' | wc -l) debs)"; done
