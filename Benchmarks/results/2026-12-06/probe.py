# python3 probe.py ADMIN_TOKEN WRITE_PORT SUBSCRIBE_PORT WRITES  (a running cluster: scripts/cluster up 3)
# one subscriber on replica `sub`, writes to replica `w` with http.client; per write: response time, event time
import json, sys, time, http.client, websocket, statistics
tok, w, sub, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
h = http.client.HTTPConnection("127.0.0.1", w)
hdr = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
h.request("POST", "/collections", json.dumps({"collection": "probe", "schema": {}, "fields": [{"field": "id", "type": "integer", "schema": {"is_primary_key": True, "has_auto_increment": True}}, {"field": "body", "type": "string"}]}), hdr); h.getresponse().read()
time.sleep(1)
ws = websocket.create_connection(f"ws://127.0.0.1:{sub}/websocket")
ws.send(json.dumps({"type": "auth", "access_token": tok})); ws.recv()
ws.send(json.dumps({"type": "subscribe", "collection": "probe", "uid": "1"})); ws.recv()
resp, ev = [], []
for i in range(n):
    t = time.perf_counter()
    h.request("POST", "/items/probe", json.dumps({"body": "x"}), hdr); r = h.getresponse(); r.read()
    t1 = time.perf_counter()
    while True:
        m = json.loads(ws.recv())
        if m.get("type") == "subscription" and m.get("event") == "create": break
        if m.get("type") == "ping": ws.send(json.dumps({"type": "pong"}))
    t2 = time.perf_counter()
    resp.append((t1 - t) * 1000); ev.append((t2 - t) * 1000)
    time.sleep(0.01)
q = lambda v, p: sorted(v)[int(len(v) * p)]
print(f"write {w} sub {sub}: response p50 {q(resp,.5):.2f} p99 {q(resp,.99):.2f}; event p50 {q(ev,.5):.2f} p99 {q(ev,.99):.2f}; event-response p50 {statistics.median([e-r for e,r in zip(ev,resp)]):.2f}")
