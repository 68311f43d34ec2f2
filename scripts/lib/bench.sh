# Helpers shared by scripts/bench and scripts/churn-floor (sourced, not run).

# wait_healthy URL LOG : until URL/server/health answers (at most 30 s); shows LOG if it never does
wait_healthy() {
    local url=$1 log=$2 i
    for ((i = 0; i < 300; i++)); do
        curl -fsS "$url/server/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "no answer from $url/server/health; $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
}

# make_bench_collection HOST:PORT : the `bench` collection the scenarios write (ADMIN_TOKEN's)
make_bench_collection() {
    curl -fsS -X POST -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
        "http://$1/collections" -d '{"collection":"bench","schema":{},"fields":[
          {"field":"id","type":"integer","schema":{"is_primary_key":true,"has_auto_increment":true}},
          {"field":"text","type":"string"},{"field":"room","type":"integer"},{"field":"sent_at","type":"bigInteger"}]}' \
        >/dev/null
}
