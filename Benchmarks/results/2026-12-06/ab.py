# python3 ab.py PORT_A PORT_B  (two servers with ADMIN_TOKEN=admintok, each on its own database)
import requests, time, sys, statistics
ports = sys.argv[1:]
ss = {}
for p in ports:
    s = requests.Session(); s.headers["Authorization"] = "Bearer admintok"
    s.post(f"http://127.0.0.1:{p}/collections", json={"collection": "lat", "schema": {}, "fields": [{"field": "id", "type": "integer", "schema": {"is_primary_key": True, "has_auto_increment": True}}, {"field": "body", "type": "string"}]})
    for i in range(100): s.post(f"http://127.0.0.1:{p}/items/lat", json={"body": "warm"})
    ss[p] = s
res = {p: [] for p in ports}; allv = {p: [] for p in ports}
for rnd in range(30):
    for p in (ports if rnd % 2 == 0 else ports[::-1]):
        s = ss[p]; lat = []
        for i in range(200):
            t = time.perf_counter(); r = s.post(f"http://127.0.0.1:{p}/items/lat", json={"body": "m"}); lat.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
        res[p].append(statistics.mean(lat)); allv[p] += lat
for p in ports:
    v = sorted(allv[p])
    print(p, "median of batch means %.3f ms; overall mean %.3f p50 %.3f p99 %.3f" % (statistics.median(res[p]), statistics.mean(v), v[len(v)//2], v[int(len(v)*.99)]))
wins = sum(1 for a, b in zip(res[ports[0]], res[ports[1]]) if a < b)
print("batches where", ports[0], "faster:", wins, "of", len(res[ports[0]]))
