#!/usr/bin/env bash
# npm run deb: builds the aptgate and aptgate-agent Debian packages from this checkout with
# dpkg-buildpackage and puts them (with the .changes and .buildinfo) in dist-deb/.
# Needs: dpkg-dev, debhelper, and what debian/control's Build-Depends name (nodejs >= 20.18
# with npm, python3, make, g++); network access to the npm registry.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
trap 'echo "!! packaging/build-deb.sh failed at line $LINENO: $BASH_COMMAND" >&2' ERR

version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
out=dist-deb
parent=..
outputs=("aptgate_${version}_${arch}.deb" "aptgate-agent_${version}_all.deb"
  "aptgate_${version}_${arch}.changes" "aptgate_${version}_${arch}.buildinfo")

# dpkg-buildpackage writes next to the checkout: refuse to overwrite what is not ours
for f in "${outputs[@]}"; do
  if [[ -e "$parent/$f" ]]; then echo "$parent/$f exists: move it away first" >&2; exit 1; fi
done

dpkg-buildpackage -us -uc -b "$@"

rm -rf "$out"
mkdir -p "$out"
for f in "${outputs[@]}"; do mv "$parent/$f" "$out/"; done
# the build tree is only needed for the build
debian/rules clean >/dev/null
ls -l "$out"
