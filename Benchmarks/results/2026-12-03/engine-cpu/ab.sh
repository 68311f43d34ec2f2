#!/usr/bin/env bash
# ab.sh LABEL BIN SCENARIO OUTDIR : one run of SCENARIO (churn|fanout) against a fresh single node
# from BIN; server CPU seconds (utime+stime from /proc) and perf stat instructions over the run.
set -euo pipefail
label=$1 bin=$2 scenario=$3 out=$4
BENCH=${BENCH:-/work/wt-churn/.build/release/switchboard-bench}
PORT=${PORT:-18391}
work=$(mktemp -d /tmp/churn-ab/run.XXXXXX)
mkdir -p "$out"
( cd "$work" && exec env -i PATH="$PATH" HOME="$work" PORT="$PORT" HOST=127.0.0.1 DB_CLIENT=sqlite3 \
    DB_FILENAME="$work/data.db" ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=bench-admin-pass \
    ADMIN_TOKEN=bench-admin-token SECRET=bench-secret LOG_LEVEL=warn "$bin" serve >"$work/server.log" 2>&1 ) &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for i in $(seq 1 300); do curl -fsS "http://127.0.0.1:$PORT/server/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -X POST -H "Authorization: Bearer bench-admin-token" -H 'Content-Type: application/json' \
    "http://127.0.0.1:$PORT/collections" -d '{"collection":"bench","schema":{},"fields":[
      {"field":"id","type":"integer","schema":{"is_primary_key":true,"has_auto_increment":true}},
      {"field":"text","type":"string"},{"field":"room","type":"integer"},{"field":"sent_at","type":"bigInteger"}]}' >/dev/null
if [[ $scenario == churn ]]; then args=(--subscribers 50); else args=(--subscribers 1000 --rate 20); fi
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
perf stat -e instructions,task-clock -x, -o "$out/$label-$scenario.perf" -p "$pid" &
perfpid=$!
sleep 0.5
c0=$(cpu); up0=$(cut -d' ' -f1 /proc/loadavg)
timeout 300 "$BENCH" "$scenario" --target switchboard --duration 10s --token bench-admin-token --collection bench \
    --ws "ws://127.0.0.1:$PORT/websocket" --rest "http://127.0.0.1:$PORT" "${args[@]}" \
    --json "$out/$label-$scenario.json" >"$out/$label-$scenario.txt" 2>&1
c1=$(cpu); up1=$(cut -d' ' -f1 /proc/loadavg)
kill -INT $perfpid; wait $perfpid 2>/dev/null || true
ticks=$(getconf CLK_TCK)
python3 - "$out/$label-$scenario.json" "$out/$label-$scenario.perf" $((c1 - c0)) "$ticks" "$label" "$scenario" "$up0" "$up1" <<'PY' | tee -a "$out/ab.tsv"
import json, sys
j = json.load(open(sys.argv[1])); perf = open(sys.argv[2]).read()
ins = next((int(l.split(",")[0]) for l in perf.splitlines() if "instructions" in l and l.split(",")[0].isdigit()), 0)
cpu = int(sys.argv[3]) / int(sys.argv[4]); label, scen = sys.argv[5], sys.argv[6]
if scen == "churn":
    n = j["connections"]["churnCycles"]; rate = j["connections"]["connectRatePerSecond"]; p99 = j["connections"]["connectLatencyMs"]["p99"]
else:
    n = j["deliveries"]["total"]; rate = j["deliveries"]["perSecond"]; p99 = j["latencyMs"]["p99"]
print(f"{label}\t{scen}\tunits={n}\trate={rate:.0f}/s\tp99={p99:.1f}ms\tcpu={cpu:.2f}s\tcpu_per_1000={cpu*1000/max(n,1)*1000:.1f}ms\tinstr_per_unit={ins/max(n,1)/1000:.0f}k\tload={sys.argv[7]}->{sys.argv[8]}")
PY
