"""The switchboard CLI (mirrors Directus's: api/src/cli/index.ts).

- `bootstrap` installs once; a second run only migrates (cli/commands/bootstrap/index.ts)
- `users create --email --password --role` prints the new user's id (cli/commands/users/create.ts)
- `schema snapshot` with no path writes YAML to stdout (cli/commands/schema/snapshot.ts)
- `schema apply <path>` applies a snapshot file (Switchboard also applies the
  `policies:`/`permissions:` extension section of Config/schema.yaml)
"""

import os
import uuid

import yaml

from harness import ADMIN_EMAIL, ADMIN_PASSWORD, REPO_ROOT, Api, create_collection, data, uniq


def test_bootstrap_twice_is_idempotent(fresh_dir_server):
    srv = fresh_dir_server
    srv.bootstrap()
    srv.bootstrap()
    srv.start()
    admin = srv.api().login(ADMIN_EMAIL, ADMIN_PASSWORD)
    users = data(admin.get("/users", params={"filter[email][_eq]": ADMIN_EMAIL}))
    assert len(users) == 1
    roles = data(admin.get("/roles", params={"limit": -1}))
    assert len(roles) == 1  # one Administrator role, not two


def test_users_create_then_login(server, admin):
    role = data(admin.post("/roles", {"name": uniq("clirole")}))["id"]
    policy = data(admin.post("/policies", {"name": uniq("clipol"), "admin_access": False, "app_access": True}))["id"]
    data(admin.post("/access", {"role": role, "policy": policy}))
    email = f"{uniq('cli')}@example.com"
    result = server.cli("users", "create", "--email", email, "--password", "cli-password", "--role", role)
    printed = result.stdout.strip().splitlines()[-1]
    uuid.UUID(printed)
    user = Api(server.base_url).login(email, "cli-password")
    me = data(user.get("/users/me"))
    assert me["id"] == printed and me["email"] == email


def test_schema_snapshot_prints_yaml(server, admin):
    name = uniq("snap")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    result = server.cli("schema", "snapshot")
    snap = yaml.safe_load(result.stdout)
    assert snap["version"] == 1
    assert isinstance(snap["directus"], str)
    assert snap["vendor"] == ("postgres" if os.environ.get("SWITCHBOARD_TEST_PG") else "sqlite")
    assert name in [c["collection"] for c in snap["collections"]]
    fields = {(f["collection"], f["field"]): f for f in snap["fields"]}
    assert fields[(name, "text")]["type"] == "text"
    assert fields[(name, "id")]["schema"]["is_primary_key"] is True
    assert isinstance(snap["relations"], list)
    assert not any(c["collection"].startswith("directus_") for c in snap["collections"])


def test_schema_apply_example_schema(fresh_dir_server):
    srv = fresh_dir_server
    srv.bootstrap()
    srv.cli("schema", "apply", str(REPO_ROOT / "Config" / "schema.yaml"))
    srv.start()
    admin = srv.admin()
    for coll in ("messages", "presence", "rooms"):
        assert data(admin.get(f"/collections/{coll}"))["collection"] == coll
    fields = {f["field"]: f for f in data(admin.get("/fields/messages"))}
    assert {"id", "text", "user", "date_created"} <= set(fields)
    rels = data(admin.get("/relations/messages"))
    assert any(r["field"] == "user" and r["related_collection"] == "directus_users" for r in rels)
    # the Switchboard extension section granted the public policy read + create on messages
    anon = srv.api()
    created = anon.post("/items/messages", {"text": "hello from public"})
    assert created.status_code in (200, 204), created.text
    assert "hello from public" in [m["text"] for m in data(anon.get("/items/messages"))]


def test_schema_apply_twice_is_a_no_op(fresh_dir_server):
    srv = fresh_dir_server
    srv.bootstrap()
    path = str(REPO_ROOT / "Config" / "schema.yaml")
    srv.cli("schema", "apply", path)
    srv.cli("schema", "apply", path)
    srv.start()
    assert data(srv.admin().get("/collections/messages"))["collection"] == "messages"
