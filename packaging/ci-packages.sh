#!/usr/bin/env bash
# CI for the Debian packages (the last step of .ci/run; as root on a Debian bookworm machine):
#   build aptgate and aptgate-agent (npm run deb), lintian (no error, no warning), install both
#   with apt-get (shell completion included), run the packaged server as user aptgate with its packaged configuration on
#   loopback (inside a sandbox like its systemd unit's), `aptgate --help`, a token, enrol the
#   packaged agent and run it once, then `apt-get remove` (configuration and data kept) and
#   `apt-get purge` (user, data and configuration gone), checking each state.
#
# The machine is left as it was found: the script refuses to start when aptgate is installed
# or its user or directories exist, compares the package list, the user and group databases,
# systemd's enablement links and apt's configuration with what they were before, and purges
# whatever it installed when anything fails. It keeps what it installs as build tools
# (debhelper, lintian, ...), as .ci/run keeps its own.
#
# CI_APTGATE_PORT: the loopback port (default: a free one). CI_APTGATE_REUSE_DEBS=1: test the
# packages in dist-deb/ instead of building them (while working on this script). APTGATE_TEST_AGENT_NODE and
# APTGATE_TEST_AGENT_LIBS (set by .ci/run): Debian's own nodejs 18, which also runs the
# packaged agent once. Every other APTGATE_* variable is unset: the packaged defaults are
# under test (and aptgate refuses APTGATE_ variables that are not settings).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

step() { printf '\n==> packages: %s (%ss)\n' "$*" "$((SECONDS - started))"; }
die() { echo "!! packaging CI: $*" >&2; exit 1; }
trap 'echo "!! packaging/ci-packages.sh failed at line $LINENO: $BASH_COMMAND" >&2' ERR

[[ $(id -u) -eq 0 ]] || die "run as root: it installs and purges packages"
node18=${APTGATE_TEST_AGENT_NODE:-}
node18_libs=${APTGATE_TEST_AGENT_LIBS:-}
for v in $(compgen -e | grep '^APTGATE_' || true); do unset "$v"; done
export DEBIAN_FRONTEND=noninteractive

PKGS=(aptgate aptgate-agent)
OWN_PATHS=(/etc/aptgate /var/lib/aptgate /var/cache/aptgate /etc/aptgate-agent /var/lib/aptgate-agent
  /usr/lib/aptgate /usr/bin/aptgate /usr/bin/aptgate-agent /etc/cron.d/aptgate-agent
  /etc/apt/apt.conf.d/30aptgate-proxy /etc/apt/sources.list.d/aptgate.sources /etc/apt/keyrings/aptgate.asc)
COMPLETIONS=(/usr/share/bash-completion/completions/aptgate /usr/share/zsh/vendor-completions/_aptgate
  /usr/share/bash-completion/completions/aptgate-agent /usr/share/zsh/vendor-completions/_aptgate-agent)
OWN_PATHS+=("${COMPLETIONS[@]}")

installed() { [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" =~ ^(installed|config-files|half-installed|unpacked|half-configured|triggers-awaited|triggers-pending)$ ]]; }
status_of() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || echo not-installed; }

# ---------------------------------------------------------------------------------------------
step "build tools and the packages' run-time dependencies"
# dpkg-dev/debhelper/lintian build and check; the run-time dependencies are installed here, so
# that installing the two packages later adds exactly them (and purging them leaves nothing)
tools=(dpkg-dev debhelper lintian g++ make python3 adduser gpg gpg-agent gpgconf gpgv xz-utils
  debian-archive-keyring util-linux)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed: ${missing[*]}"
else
  echo "all present: ${tools[*]}"
fi

# ---------------------------------------------------------------------------------------------
step "the machine has no aptgate yet"
for p in "${PKGS[@]}"; do
  installed "$p" && die "package $p is on this machine ($(status_of "$p")): CI would replace and purge it; remove it first (apt-get purge ${PKGS[*]})"
done
getent passwd aptgate >/dev/null && die "a user aptgate exists: CI would delete it"
getent group aptgate >/dev/null && die "a group aptgate exists: CI would delete it"
for f in "${OWN_PATHS[@]}"; do [[ -e "$f" ]] && die "$f exists: CI would delete it"; done
pgrep -u aptgate >/dev/null 2>&1 && die "processes of a user aptgate are running"

work=$(mktemp -d /tmp/aptgate-ci-packages.XXXXXX)
chmod 0755 "$work"
server_pid=
snapshot() {
  # what installing and purging must leave as it was
  dpkg-query -W -f='${binary:Package} ${Version} ${db:Status-Abbrev}\n' | sort
  echo "-- users and groups"
  cat /etc/passwd /etc/group /etc/shadow /etc/gshadow
  echo "-- systemd and cron"
  local d
  for d in /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked /etc/cron.d; do
    [[ -e "$d" ]] && find "$d" -printf '%p %y %l\n'
  done | sort
  echo "-- apt configuration"
  find /etc/apt -printf '%p %y %s %m\n' | sort
}
snapshot >"$work/before"

cleanup() {
  local rc=$?
  set +e
  trap - ERR
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; sleep 2; kill -KILL "$server_pid" 2>/dev/null
  fi
  # processes of the user aptgate can only be the server's (the user did not exist before):
  # its gpg-agent, above all
  local pids
  pids=$(pgrep -u aptgate 2>/dev/null | tr '\n' ' ')
  if [[ -n "$pids" ]]; then echo "stopping leftover processes of aptgate: $pids" >&2; kill -TERM $pids 2>/dev/null; sleep 1; kill -KILL $pids 2>/dev/null; fi
  local left=()
  for p in "${PKGS[@]}"; do installed "$p" && left+=("$p"); done
  if ((${#left[@]})); then
    echo "purging ${left[*]} (the run did not finish)" >&2
    apt-get purge -y -qq "${left[@]}" >/dev/null 2>&1 || dpkg --purge "${left[@]}" >/dev/null 2>&1
  fi
  if ((rc == 0)); then rm -rf "$work"; else echo "logs kept in $work" >&2; fi
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
step "build: npm run deb (dpkg-buildpackage -us -uc -b)"
if [[ "${CI_APTGATE_REUSE_DEBS:-}" == 1 && -d dist-deb ]]; then
  echo "(CI_APTGATE_REUSE_DEBS=1: testing the packages already in dist-deb/)"
else
  bash packaging/build-deb.sh >"$work/build.log" 2>&1 || { tail -50 "$work/build.log" >&2; die "the package build failed (log: $work/build.log)"; }
fi
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
server_deb=dist-deb/aptgate_${version}_${arch}.deb
agent_deb=dist-deb/aptgate-agent_${version}_all.deb
changes=dist-deb/aptgate_${version}_${arch}.changes
for f in "$server_deb" "$agent_deb" "$changes"; do [[ -f "$f" ]] || die "the build made no $f"; done
ls -l dist-deb

# ---------------------------------------------------------------------------------------------
step "lintian (errors and warnings fail; see debian/*.lintian-overrides)"
# its perl modules leave mldbm-* files in TMPDIR: in the work directory, removed at the end
TMPDIR="$work" lintian --fail-on error,warning --display-info --pedantic "$changes" >"$work/lintian.log" 2>&1 || lintian_rc=$?
grep -v '^running with root privileges' "$work/lintian.log" || true
((${lintian_rc:-0} == 0)) || die "lintian reported errors or warnings (exit ${lintian_rc})"
echo "lintian: $(grep -c '^E:' "$work/lintian.log" || true) errors, $(grep -c '^W:' "$work/lintian.log" || true) warnings, $(grep -c '^[IP]:' "$work/lintian.log" || true) info/pedantic (overridden tags not shown)"

# ---------------------------------------------------------------------------------------------
step "install: apt-get install ./$server_deb ./$agent_deb"
apt-get install -y -q --no-install-recommends "./$server_deb" "./$agent_deb" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; die "apt-get install failed"; }
for p in "${PKGS[@]}"; do [[ "$(status_of "$p")" == installed ]] || die "$p is $(status_of "$p") after apt-get install"; done
# exactly the two packages were added
diff <(sed -n '/^-- users/q;p' "$work/before") <(snapshot | sed -n '/^-- users/q;p') | grep '^[<>]' >"$work/pkgdiff" || true
[[ "$(grep -c '^>' "$work/pkgdiff")" == 2 && "$(grep -c '^<' "$work/pkgdiff")" == 0 ]] && grep -q '^> aptgate ' "$work/pkgdiff" && grep -q '^> aptgate-agent ' "$work/pkgdiff" \
  || { cat "$work/pkgdiff" >&2; die "installing changed other packages than aptgate and aptgate-agent"; }

check_mode() { # PATH OWNER:GROUP MODE
  local got
  got=$(stat -c '%U:%G %a' "$1") || die "$1 is missing"
  [[ "$got" == "$2 $3" ]] || die "$1 is $got, expected $2 $3"
}
uid=$(id -u aptgate) || die "postinst created no user aptgate"
((uid < 1000)) || die "aptgate is not a system user (uid $uid)"
[[ "$(id -gn aptgate)" == aptgate ]] || die "the user aptgate's group is not aptgate"
[[ "$(getent passwd aptgate | cut -d: -f6,7)" == /var/lib/aptgate:/usr/sbin/nologin ]] || die "aptgate's home/shell: $(getent passwd aptgate)"
check_mode /etc/aptgate/aptgate.conf root:aptgate 640
check_mode /var/lib/aptgate aptgate:aptgate 750
check_mode /var/cache/aptgate aptgate:aptgate 750
check_mode /var/lib/aptgate-agent root:root 700
check_mode /etc/aptgate-agent/agent.conf root:root 644
check_mode /usr/bin/aptgate root:root 755
check_mode /usr/bin/aptgate-agent root:root 755
grep -qx 'cache_dir = /var/cache/aptgate' /etc/aptgate/aptgate.conf || die "aptgate.conf does not set cache_dir"
grep -qx 'db = /var/lib/aptgate/aptgate.db' /etc/aptgate/aptgate.conf || die "aptgate.conf does not set db"
for f in /etc/aptgate/aptgate.conf; do dpkg-query -W -f='${Conffiles}\n' aptgate | grep -q " $f " || die "$f is not a conffile of aptgate"; done
for f in /etc/aptgate-agent/agent.conf /etc/cron.d/aptgate-agent /etc/apt/apt.conf.d/30aptgate-proxy; do
  dpkg-query -W -f='${Conffiles}\n' aptgate-agent | grep -q " $f " || die "$f is not a conffile of aptgate-agent"
done
# the proxy snippet changes nothing until an administrator uncomments it
[[ -z "$(apt-config dump | grep -i 'aptgate')" ]] || die "the shipped apt.conf.d snippet is active"
apt-config dump | grep -q '^Acquire::http::Proxy ' && ! grep -q '^Acquire::http::Proxy ' "$work/before" && die "an apt proxy became active" || true
head -1 /usr/bin/aptgate-agent | grep -qx '#!/usr/bin/node' || die "/usr/bin/aptgate-agent does not start with #!/usr/bin/node"
[[ ! -e /usr/lib/aptgate/node_modules/.bin && -f /usr/lib/aptgate/node_modules/better-sqlite3/build/Release/better_sqlite3.node && -f /usr/lib/aptgate/build/Release/aptgate_native.node ]] \
  || die "/usr/lib/aptgate lacks a native module (or has npm's .bin)"
# systemd units, enabled by the maintainer scripts even without a running systemd
[[ -L /etc/systemd/system/multi-user.target.wants/aptgate.service ]] || die "aptgate.service is not enabled"
[[ -L /etc/systemd/system/timers.target.wants/aptgate-agent.timer ]] || die "aptgate-agent.timer is not enabled"
[[ ! -e /etc/systemd/system/multi-user.target.wants/aptgate-agent.service ]] || die "aptgate-agent.service must only be started by its timer"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/aptgate.service /lib/systemd/system/aptgate-agent.service /lib/systemd/system/aptgate-agent.timer 2>&1 \
    | grep -v -e 'Failed to connect' -e 'No such file or directory' -e '^$' | tee "$work/verify.log" || true
  ! grep -qi -e 'unknown' -e 'invalid' -e 'failed to parse' "$work/verify.log" || die "systemd-analyze verify complained about the units"
fi
grep -q '^ProtectSystem=strict' /lib/systemd/system/aptgate.service && grep -q '^ReadWritePaths=/var/cache/aptgate /var/lib/aptgate$' /lib/systemd/system/aptgate.service \
  || die "aptgate.service lost its sandbox"
# the cron entry runs nothing where systemd runs the timer; here (no systemd) it would run
[[ -d /run/systemd/system ]] && cron_expect=skip || cron_expect=run
cron_cmd=$(grep -v '^#' /etc/cron.d/aptgate-agent | grep aptgate-agent | sed -E 's/^([^ ]+ +){6}//')
sh -n -c "$cron_cmd" || die "the cron entry is not valid sh"
guard=${cron_cmd%%/usr/bin/aptgate-agent run-once*}
if sh -c "${guard} true"; then [[ $cron_expect == run ]]; else [[ $cron_expect == skip ]]; fi || die "the cron guard does not follow /run/systemd/system"

# shell completion: installed by the package it completes, and a real bash completes with it
for f in "${COMPLETIONS[@]}"; do
  p=${f##*/}; p=${p#_}
  [[ "$(dpkg -S "$f" 2>/dev/null | cut -d: -f1)" == "$p" ]] || die "$f is not installed by $p"
  check_mode "$f" root:root 644
done
for p in aptgate aptgate-agent; do head -1 "/usr/share/zsh/vendor-completions/_$p" | grep -qx "#compdef $p" || die "_$p is not a zsh #compdef script"; done
completes() { # SCRIPT FUNCTION WORD...: what bash completes for the words (the last one under the cursor)
  bash --norc --noprofile -c 'source "$1"; fn=$2; shift 2; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "$fn"; printf "%s\n" "${COMPREPLY[@]}"' bash "$@"
}
[[ "$(completes /usr/share/bash-completion/completions/aptgate _aptgate aptgate cache ver)" == verify ]] || die "bash does not complete aptgate cache ver"
[[ "$(completes /usr/share/bash-completion/completions/aptgate-agent _aptgate_agent aptgate-agent run)" == run-once ]] || die "bash does not complete aptgate-agent run"

# ---------------------------------------------------------------------------------------------
step "aptgate --help, aptgate-agent --help"
aptgate --help >"$work/help.txt" && grep -q '^Usage: aptgate' "$work/help.txt" || die "aptgate --help failed"
aptgate --version
aptgate-agent --help | grep -q '^Usage: aptgate-agent' || die "aptgate-agent --help failed"
# without --config the command reads the packaged configuration
aptgate config --json | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{const c=JSON.parse(s); if (c.db!=="/var/lib/aptgate/aptgate.db"||c.cacheDir!=="/var/cache/aptgate") { console.error("aptgate config: " + c.db + " " + c.cacheDir); process.exit(1) }})' \
  || die "aptgate (no --config) does not read /etc/aptgate/aptgate.conf"

# ---------------------------------------------------------------------------------------------
step "serve: the packaged server as aptgate on 127.0.0.1, sandboxed like aptgate.service"
port=${CI_APTGATE_PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}
base=http://127.0.0.1:$port
# ProtectSystem=strict + ReadWritePaths, PrivateTmp, ProtectHome, NoNewPrivileges, no capabilities, UMask:
# a private mount namespace where / is read-only but the two state directories, /tmp and
# /var/tmp are fresh, /home and /root hidden; then the user aptgate with an empty bounding set.
sandbox='set -e
mount --make-rprivate /
mount --bind /var/lib/aptgate /var/lib/aptgate
mount --bind /var/cache/aptgate /var/cache/aptgate
mount -o remount,bind,ro /
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t tmpfs -o mode=000 tmpfs /home
mount -t tmpfs -o mode=000 tmpfs /root
umask 0027
exec setpriv --reuid=aptgate --regid=aptgate --init-groups --reset-env --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"'
serve=(/usr/bin/aptgate serve --config /etc/aptgate/aptgate.conf --listen 127.0.0.1 --port "$port")
if unshare --mount true 2>/dev/null; then
  unshare --mount --propagation private -- sh -c "$sandbox" sandbox "${serve[@]}" >"$work/server.log" 2>&1 </dev/null &
else
  echo "(no mount namespaces here: the server runs as aptgate without the file system sandbox)"
  setpriv --reuid=aptgate --regid=aptgate --init-groups --reset-env --no-new-privs -- "${serve[@]}" >"$work/server.log" 2>&1 </dev/null &
fi
server_pid=$!
http() { # METHOD-less GET: prints the body, fails on a status >= 400
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(Number(process.argv[2])) }).then(async (r) => { const b = Buffer.from(await r.arrayBuffer()); process.stdout.write(b); if (r.status >= 400) { console.error(`HTTP ${r.status} for ${process.argv[1]}`); process.exit(1) } }, (e) => { console.error(String(e.cause ?? e)); process.exit(1) })' "$1" "${2:-5000}"
}
for i in $(seq 1 120); do
  http "$base/-/health" 1000 >"$work/health.json" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited"; }
  sleep 0.5
done
[[ -s "$work/health.json" ]] || { tail -30 "$work/server.log" >&2; die "no answer from $base/-/health"; }
echo "health: $(cat "$work/health.json")"
# the web console (/usr/lib/aptgate/console, read through @fastify/static and its pruned modules)
http "$base/console/js/main.js" >"$work/console-main.js" || die "the console's modules are not served"
node -e 'fetch(process.argv[1]).then((r) => { const c = r.headers.get("content-security-policy") || ""; if (r.status !== 200 || !c.includes("frame-ancestors")) { console.error(`${r.status} ${c}`); process.exit(1) } })' "$base/console/" \
  || die "/console/ does not answer with the console's page and its CSP"
[[ "$(stat -c %U /proc/"$server_pid")" == aptgate ]] || die "the server does not run as aptgate"
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/"$server_pid"/status || die "the server runs without no_new_privs"

# the release gate's key: gpg and gpg-agent work in the sandbox
for i in $(seq 1 120); do grep -q 'signing key ready' "$work/server.log" && break; grep -q 'signing key could not be prepared' "$work/server.log" && break; sleep 0.5; done
grep -q 'signing key ready' "$work/server.log" || { tail -20 "$work/server.log" >&2; die "the server could not make its signing key"; }
runuser -u aptgate -- aptgate key export >"$work/key.asc" && grep -q 'BEGIN PGP PUBLIC KEY BLOCK' "$work/key.asc" || die "aptgate key export failed"

# the proxy: an InRelease verified by gpgv and its Packages.xz read with xz, both from the sandbox
if http "$base/debian/dists/bookworm-updates/InRelease" 60000 >"$work/InRelease"; then
  grep -q '^Codename: bookworm-updates' "$work/InRelease" || die "the InRelease served is not bookworm-updates'"
  http "$base/debian/dists/bookworm-updates/main/binary-${arch}/Packages.xz" 60000 >"$work/Packages.xz" || die "Packages.xz through the proxy failed"
  xz -t "$work/Packages.xz" || die "Packages.xz through the proxy is not valid xz"
  for i in $(seq 1 60); do
    runuser -u aptgate -- aptgate cache stats --json >"$work/stats.json"
    node -e 'process.exit(require(process.argv[1]).packageIndex.packages > 0 ? 0 : 1)' "$work/stats.json" && break
    sleep 0.5
  done
  node -e 'const s=require(process.argv[1]); console.log(`snapshots: ${s.snapshots}; package index: ${JSON.stringify(s.packageIndex)}`); process.exit(s.snapshots > 0 && s.packageIndex.packages > 0 ? 0 : 1)' "$work/stats.json" \
    || die "the server indexed nothing from bookworm-updates (xz in the sandbox?)"
  # a package file (the smallest above the 256 KiB memory cache): fetched, checked against the
  # index, then served again from the cache by the sendfile addon
  read -r pool size sha < <(xz -dc "$work/Packages.xz" | awk '/^Filename:/{f=$2} /^Size:/{z=$2} /^SHA256:/{h=$2} /^$/{if (z>300000 && (!best || z<bz)) {best=f; bz=z; bh=h}} END{print best, bz, bh}')
  [[ -n "$pool" ]] || die "no package file above 300 KB in bookworm-updates"
  for n in 1 2; do
    http "$base/debian/$pool" 120000 >"$work/pool.deb" || die "$pool through the proxy failed"
    [[ "$(stat -c %s "$work/pool.deb") $(sha256sum <"$work/pool.deb" | cut -d' ' -f1)" == "$size $sha" ]] || die "$pool through the proxy does not match its index entry"
  done
  zero_copy=$(http "$base/-/metrics" | awk '$1 == "aptgate_sendfile_bytes_total" {print $2}')
  echo "$pool ($size bytes) twice; sent by sendfile: ${zero_copy:-?} bytes"
  [[ "${zero_copy:-0}" -gt 0 ]] || die "the packaged server does not use its sendfile addon (/usr/lib/aptgate/build/Release)"
else
  die "the proxy could not fetch and verify bookworm-updates/InRelease from deb.debian.org (see $work/server.log)"
fi

# ---------------------------------------------------------------------------------------------
step "a token, the packaged agent enrolled against the server, one run"
runuser -u aptgate -- aptgate token create --auto-approve --uses 1 --note ci-packages --config /etc/aptgate/aptgate.conf --json >"$work/token.json" \
  || die "aptgate token create failed"
token=$(node -p 'require(process.argv[1]).token' "$work/token.json")
[[ "$token" == agt_* ]] || die "no token in $(cat "$work/token.json")"
agent_conf=()
if ! grep -qE '^[0-9a-f]{32}$' /etc/machine-id 2>/dev/null; then
  # a machine without a machine id: the agent reads one made for this run (nothing on the host changes)
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$work/machine-id"; echo >>"$work/machine-id"
  { cat /etc/aptgate-agent/agent.conf; echo "machine_id_file = $work/machine-id"; } >"$work/agent.conf"
  agent_conf=(--config "$work/agent.conf")
fi
aptgate-agent "${agent_conf[@]}" enrol --server "$base" --token "$token" --json | tee "$work/enrol.json"
node -e 'const r=require(process.argv[1]); if (r.status!=="approved") { console.error("enrolment: " + JSON.stringify(r)); process.exit(1) }' "$work/enrol.json" || die "the agent is not approved"
machine=$(node -p 'require(process.argv[1]).machine' "$work/enrol.json")
aptgate-agent "${agent_conf[@]}" run-once --json | tee "$work/run.json" || die "aptgate-agent run-once failed"
if [[ -n "$node18" && -x "$node18" ]]; then
  echo "and with Debian's own nodejs ($(LD_LIBRARY_PATH=$node18_libs "$node18" --version)):"
  LD_LIBRARY_PATH=$node18_libs "$node18" /usr/bin/aptgate-agent "${agent_conf[@]}" run-once --json || die "the packaged agent failed on Debian's nodejs"
fi
check_mode /var/lib/aptgate-agent root:root 700
[[ -z "$(find /var/lib/aptgate-agent -perm /077 -type f)" ]] || die "agent state readable by others: $(find /var/lib/aptgate-agent -perm /077 -type f)"
# as root, as the administrator would (the server is running and owns the database)
aptgate machines list --json >"$work/machines.json" || die "aptgate machines list failed"
node -e 'const r=require(process.argv[1]); const m=r.machines.find((x)=>x.id===Number(process.argv[2])); if (!m || m.status!=="approved" || !m.lastSeen || !m.reportedAt) { console.error(JSON.stringify(r.machines)); process.exit(1) } console.log(`machine ${m.id}: ${m.hostname} ${m.status}`)' "$work/machines.json" "$machine" \
  || die "aptgate machines list does not show the enrolled machine"

step "the API and the console of the packaged server: an admin, a token, the remote command line, the console"
printf '%s\n' 'ci-packages admin password' | aptgate users add ciadmin --role admin >/dev/null || die "aptgate users add failed"
aptgate api-tokens create --user ciadmin --role viewer --expires 1h --json >"$work/api-token.json" || die "aptgate api-tokens create failed"
api_token=$(node -p 'require(process.argv[1]).token' "$work/api-token.json")
APTGATE_TOKEN=$api_token aptgate machines list --server "$base" --json >"$work/machines-remote.json" \
  || die "aptgate machines list --server (through the API) failed"
node -e 'const ids=(f)=>JSON.stringify(require(f).machines.map((m)=>m.id)); if (ids(process.argv[1])!==ids(process.argv[2])) { console.error("local and remote lists differ"); process.exit(1) }' \
  "$work/machines.json" "$work/machines-remote.json" || die "the remote command line lists other machines than the local one"
node -e 'const b=process.argv[1]; (async()=>{ const c=await fetch(b+"/console/"); const t=await c.text(); const o=await (await fetch(b+"/api/v1/openapi.json")).json(); if (c.status!==200||!/<title>/.test(t)||!/^3\./.test(o.openapi)) process.exit(1) })().catch(()=>process.exit(1))' "$base" \
  || die "the packaged server does not serve the console and the OpenAPI document"
aptgate audit --action api-tokens --json | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{ if (!JSON.parse(s).entries.some((e)=>e.action==="api-tokens.create"&&e.result==="ok")) process.exit(1) })' \
  || die "the audit log does not show the token made"
# nothing in the server's directories belongs to another user
bad=$(find /var/lib/aptgate /var/cache/aptgate ! -user aptgate | head -5)
[[ -z "$bad" ]] || die "files in the server's directories not owned by aptgate: $bad"

# ---------------------------------------------------------------------------------------------
step "stop the server"
kill -TERM "$server_pid"
for i in $(seq 1 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
kill -0 "$server_pid" 2>/dev/null && die "the server did not stop within 30 s of SIGTERM"
wait "$server_pid" 2>/dev/null || true
server_pid=
# systemd's stop ends every process of the unit's control group, the gpg-agent that gpg
# started for the signing key included; without systemd the agent is stopped here the way
# aptgate itself does it (the server does not always stop it on SIGTERM)
if pgrep -u aptgate -x gpg-agent >/dev/null; then
  echo "a gpg-agent outlived the server: gpgconf --kill gpg-agent (systemd would stop it with the unit)"
  runuser -u aptgate -- env GNUPGHOME=/var/lib/aptgate/aptgate-gnupg gpgconf --kill gpg-agent
fi
for i in $(seq 1 20); do pgrep -u aptgate >/dev/null || break; sleep 0.5; done
if pgrep -u aptgate >/dev/null; then ps -o pid,stat,comm,args -u aptgate >&2; die "processes of aptgate outlived the server"; fi

# ---------------------------------------------------------------------------------------------
step "apt-get remove: programs gone, configuration and data kept"
apt-get remove -y -q "${PKGS[@]}" >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; die "apt-get remove failed"; }
for p in "${PKGS[@]}"; do [[ "$(status_of "$p")" == config-files ]] || die "$p is $(status_of "$p") after remove"; done
for f in /usr/bin/aptgate /usr/bin/aptgate-agent /usr/lib/aptgate "${COMPLETIONS[@]}"; do [[ ! -e "$f" ]] || die "$f is still there after remove"; done
for f in /etc/aptgate/aptgate.conf /var/lib/aptgate/aptgate.db /var/lib/aptgate/aptgate-gnupg /var/cache/aptgate \
  /etc/aptgate-agent/agent.conf /etc/cron.d/aptgate-agent /etc/apt/apt.conf.d/30aptgate-proxy; do
  [[ -e "$f" ]] || die "$f is gone after remove (only purge removes it)"
done
[[ -n "$(ls -A /var/lib/aptgate-agent)" ]] || die "the agent's identity is gone after remove"
getent passwd aptgate >/dev/null || die "the user aptgate is gone after remove"
check_mode /etc/aptgate/aptgate.conf root:aptgate 640

# ---------------------------------------------------------------------------------------------
step "apt-get purge: user, data and configuration gone, the machine as it was"
apt-get purge -y -q "${PKGS[@]}" >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; die "apt-get purge failed"; }
grep -i 'could not remove' "$work/purge.log" && die "purge left something behind"
for p in "${PKGS[@]}"; do [[ "$(status_of "$p")" == not-installed ]] || die "$p is $(status_of "$p") after purge"; done
for f in "${OWN_PATHS[@]}"; do [[ ! -e "$f" ]] || die "$f is still there after purge"; done
getent passwd aptgate >/dev/null && die "the user aptgate is still there after purge"
getent group aptgate >/dev/null && die "the group aptgate is still there after purge"
snapshot >"$work/after"
diff -u "$work/before" "$work/after" >"$work/state.diff" || { cat "$work/state.diff" >&2; die "the machine is not as it was before the install"; }

step "Debian packages: built, lint-clean, installed, served, enrolled, removed and purged in $((SECONDS - started)) s"
