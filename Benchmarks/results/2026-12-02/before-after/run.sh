#!/bin/bash
# Before/after in one run: the pre-engine release build (d1b9007, Hummingbird WebSocket per socket),
# this build, and nchan (memory store), each as one node, same client, same machine, back to back.
# Setup: git worktree add /tmp/oldsb d1b9007 && (cd /tmp/oldsb && swift build -c release
#   --build-path /tmp/oldsb/.build-release --product switchboard); scripts/bench's release build of
#   this tree; an nginx prefix /tmp/qb/run-n with Benchmarks/peers/nchan-memory.conf on port 18491.
set -u
OUT=${OUT:-/work/main/Benchmarks/results/2026-12-02/before-after}
B=/work/main/.build-release/release/switchboard-bench
PORT=18145
mkdir -p "$OUT"
ulimit -n 20000
start_sb() { # bin
  pkill -f "qb3/switchboard serve" ; sleep 1
  rm -rf /tmp/qb3 && mkdir -p /tmp/qb3 && cp "$1" /tmp/qb3/switchboard
  (cd /tmp/qb3 && exec env -i PATH="$PATH" HOME=/tmp/qb3 PORT=$PORT HOST=127.0.0.1 DB_CLIENT=sqlite3 DB_FILENAME=/tmp/qb3/data.db \
     ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=bench-admin-pass ADMIN_TOKEN=admintoken SECRET=bench-secret LOG_LEVEL=warn \
     /tmp/qb3/switchboard serve > /tmp/qb3/sb.log 2>&1 &)
  for i in $(seq 300); do curl -fsS http://127.0.0.1:$PORT/server/health >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS -X POST -H "Authorization: Bearer admintoken" -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/collections" \
    -d '{"collection":"bench","schema":{},"fields":[{"field":"id","type":"integer","schema":{"is_primary_key":true,"has_auto_increment":true}},{"field":"text","type":"string"},{"field":"room","type":"integer"},{"field":"sent_at","type":"bigInteger"}]}' >/dev/null
  SBPID=$(pgrep -f "qb3/switchboard serve")
}
start_nchan() {
  nginx -p /tmp/qb/run-n -c nginx.conf -s stop 2>/dev/null; sleep 1
  nginx -p /tmp/qb/run-n -c nginx.conf; sleep 1
  NPIDS=(--pid "$(cat /tmp/qb/run-n/nginx.pid)"); for p in $(pgrep -P "$(cat /tmp/qb/run-n/nginx.pid)"); do NPIDS+=(--pid "$p"); done
}
sbrun() { # label scenario args...
  local label=$1 sc=$2; shift 2
  echo "==> $sc-$label"
  timeout 300 $B "$sc" --target "$label" --ws ws://127.0.0.1:$PORT/websocket --rest http://127.0.0.1:$PORT --token admintoken \
    --collection bench --json "$OUT/$sc-$label.json" "$@" > "$OUT/$sc-$label.txt" 2>/dev/null
}
nrun() { # scenario args...
  local sc=$1; shift
  echo "==> $sc-nchan"
  timeout 300 $B "$sc" --target nchan --nchan --ws ws://127.0.0.1:18491/sub/bench --rest http://127.0.0.1:18491 --collection bench \
    --json "$OUT/$sc-nchan.json" "$@" > "$OUT/$sc-nchan.txt" 2>/dev/null
}
for who in before switchboard; do
  bin=/tmp/oldsb/.build-release/release/switchboard; [ $who = switchboard ] && bin=/work/main/.build-release/release/switchboard
  start_sb $bin; sbrun $who idle --subscribers 8000 --pid $SBPID --duration 10s
  start_sb $bin; sbrun $who fanout --subscribers 1000 --rate 20 --duration 10s
  mv "$OUT/fanout-$who.json" "$OUT/fanout20-$who.json"; mv "$OUT/fanout-$who.txt" "$OUT/fanout20-$who.txt"
  sbrun $who fanout --subscribers 1000 --rate 60 --duration 10s
  mv "$OUT/fanout-$who.json" "$OUT/fanout60-$who.json"; mv "$OUT/fanout-$who.txt" "$OUT/fanout60-$who.txt"
  sbrun $who churn --subscribers 50 --duration 10s
done
pkill -f "qb3/switchboard serve"
start_nchan; nrun idle --subscribers 8000 "${NPIDS[@]}" --duration 10s
start_nchan; nrun fanout --subscribers 1000 --rate 20 --duration 10s
mv "$OUT/fanout-nchan.json" "$OUT/fanout20-nchan.json"; mv "$OUT/fanout-nchan.txt" "$OUT/fanout20-nchan.txt"
nrun fanout --subscribers 1000 --rate 60 --duration 10s
mv "$OUT/fanout-nchan.json" "$OUT/fanout60-nchan.json"; mv "$OUT/fanout-nchan.txt" "$OUT/fanout60-nchan.txt"
nrun churn --subscribers 50 --duration 10s
nginx -p /tmp/qb/run-n -c nginx.conf -s stop 2>/dev/null
for f in "$OUT"/*.txt; do echo "--- $(basename $f)"; grep -E "KiB per|write rate|latency p50|p99.9|complete|lost /|churn cycles|connect rate|writes ok" "$f"; done
