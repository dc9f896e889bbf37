#!/bin/sh
# Writes the packaged /etc/aptgate/aptgate.conf to stdout: config/aptgate.conf (the commented
# reference) with the Debian package's directories set. Fails if the reference file no longer
# has the lines it replaces.
#   sh packaging/debian-conf.sh config/aptgate.conf > aptgate.conf
set -eu
src=${1:?usage: debian-conf.sh config/aptgate.conf}
for line in '#cache_dir =' '#db =' '#   aptgate serve --config /path/to/aptgate.conf'; do
	grep -qxF "$line" "$src" || { echo "debian-conf.sh: \"$line\" not found in $src" >&2; exit 1; }
done
cat <<'HEAD'
# /etc/aptgate/aptgate.conf: the configuration of the aptgate server (Debian package aptgate).
#
# aptgate.service runs `aptgate serve --config /etc/aptgate/aptgate.conf`, and the aptgate
# command reads this file too unless given --config or APTGATE_CONFIG. After a change:
#   systemctl restart aptgate
# The package sets cache_dir and db below (the server's user, aptgate, owns both
# directories); every other setting is shown with its built-in default, commented out.
# This file is readable by root and the group aptgate only.
#
HEAD
# the reference's opening paragraph (up to "aptgate serve --config ...") is replaced by the one above
sed -e '1,/^#   aptgate serve --config /d' \
    -e 's|^#cache_dir =$|cache_dir = /var/cache/aptgate|' \
    -e 's|^#db =$|db = /var/lib/aptgate/aptgate.db|' "$src"
