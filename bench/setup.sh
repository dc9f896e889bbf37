#!/usr/bin/env bash
# Installs what `npm run bench:proxy` needs from Debian's packages: nginx (static upstream and
# the "direct" baseline), apt-cacher-ng (the alternative users would pick) and wrk (the load
# generator). Idempotent: does nothing when everything is there. Package installation must not
# leave system services running: a policy-rc.d that refuses every start is put in place for the
# install (unless one already exists), and any daemon the packages started anyway is stopped.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
[ -x /usr/sbin/apt-cacher-ng ] || need+=(apt-cacher-ng)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/setup.sh: missing ${need[*]}; run as root (or install them: apt-get install ${need[*]})" >&2
  exit 1
fi

echo "bench/setup.sh: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# bench/setup.sh: no service starts during package installation\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

# apt-cacher-ng asks (debconf) whether to allow HTTPS tunnels; the default is fine
echo 'apt-cacher-ng apt-cacher-ng/tunnelenable boolean false' | debconf-set-selections 2>/dev/null || true

if ! apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${need[@]}" >/tmp/aptgate-bench-setup.log 2>&1; then
  apt-get update >>/tmp/aptgate-bench-setup.log 2>&1
  apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${need[@]}" >>/tmp/aptgate-bench-setup.log 2>&1 || {
    tail -n 30 /tmp/aptgate-bench-setup.log >&2
    exit 1
  }
fi

# Whatever the init system did, no system instance of these daemons may keep running or
# hold the default ports (80 for nginx, 3142 for apt-cacher-ng).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl stop nginx.service apt-cacher-ng.service >/dev/null 2>&1 || true
  systemctl disable nginx.service apt-cacher-ng.service >/dev/null 2>&1 || true
fi
for svc in nginx apt-cacher-ng; do
  if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
done
for pidfile in /run/nginx.pid /run/apt-cacher-ng/pid /var/run/apt-cacher-ng/pid; do
  if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  fi
done
echo "bench/setup.sh: installed: $(nginx -v 2>&1); apt-cacher-ng $(dpkg-query -W -f='${Version}' apt-cacher-ng); wrk $(dpkg-query -W -f='${Version}' wrk)" >&2
