#!/usr/bin/env bash
# An .npz by URL from a real nginx (its own multi-range answers, not the test host's imitation): each CLI's
# `patchlens list --all --json URL`, the requests nginx logged, and whether the listings are identical.
# nginx runs in the foreground on 127.0.0.1:18431 from a scratch prefix, and is stopped at the end.
#   bash benches/npz_url_nginx.sh NGINX_BINARY BEFORE_CLI AFTER_CLI file.npz ...   (the files in one folder)
# (an nginx binary without installing it: `apt-get download nginx && dpkg-deb -x nginx_*.deb root`,
# then root/usr/sbin/nginx)
set -euo pipefail
nginx="$1" before="$2" after="$3"
shift 3
dir="$(dirname "$(realpath -s "$1")")"   # -s: a symlinked file is served from where the link is
prefix="$(mktemp -d)"
mkdir -p "$prefix/logs" "$prefix/tmp"
cat > "$prefix/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log;
events { worker_connections 64; }
http {
  access_log $prefix/logs/access.log;
  client_body_temp_path $prefix/tmp;
  proxy_temp_path $prefix/tmp;
  fastcgi_temp_path $prefix/tmp;
  uwsgi_temp_path $prefix/tmp;
  scgi_temp_path $prefix/tmp;
  types { application/octet-stream npz; }
  server { listen 127.0.0.1:18431; root $dir; }
}
EOF
"$nginx" -p "$prefix" -c "$prefix/nginx.conf" &
server=$!
trap 'kill $server; rm -rf "$prefix"' EXIT
sleep 1
for file in "$@"; do
    name="$(basename "$file")"
    failed=0
    for build in before after; do
        cli="$before"; [[ $build == after ]] && cli="$after"
        : > "$prefix/logs/access.log"
        "$cli" list --all --json "http://127.0.0.1:18431/$name" > "$prefix/$build.json" 2> "$prefix/$build.err" || failed=1
        logged=$(wc -l < "$prefix/logs/access.log")
        heads=$(grep -c '"HEAD ' "$prefix/logs/access.log" || true)
        echo "$name $build: $(tail -n1 "$prefix/$build.err" | sed 's/^patchlens: //'); nginx logged $logged requests ($heads HEAD)"
    done
    if [[ $failed == 1 ]]; then
        echo "$name: a listing failed"
    elif cmp -s "$prefix/before.json" "$prefix/after.json"; then
        echo "$name: the same listing"
    else
        echo "$name: the listings differ"
    fi
done
