"""`$CURRENT_USER.<path>`, `$CURRENT_ROLE.<path>`, `$CURRENT_ROLES.<path>`, `$CURRENT_POLICIES.<path>`
in permissions and queries, over REST and live subscriptions.

Directus sources checked:
- api/src/permissions/utils/extract-required-dynamic-variable-context.ts: the paths filters name
- api/src/permissions/utils/fetch-dynamic-variable-data.ts: the user / role / roles / policies read
  with those fields (administrator rights)
- packages/utils/shared/parse-filter.ts: `get(context, "$CURRENT_USER.role.name", null)` (lodash)
"""

import json

from harness import Api, create_collection, create_user_with_policy, data, uniq
from wsclient import assert_error_frame, authed, run_async


def notes(admin) -> str:
    name = uniq("notes")
    create_collection(admin, name, [
        {"field": "text", "type": "string"},
        {"field": "owner_email", "type": "string"},
        {"field": "role_name", "type": "string"},
    ])
    return name


def user_reading_own_email_rows(admin, name):
    return create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["*"],
         "permissions": {"owner_email": {"_eq": "$CURRENT_USER.email"}}},
        {"collection": name, "action": "create", "fields": ["*"],
         "presets": {"role_name": "$CURRENT_USER.role.name"}},
    ])


def test_a_permission_filter_and_preset_read_fields_of_the_user(admin):
    name = notes(admin)
    info, user = user_reading_own_email_rows(admin, name)
    role_name = data(admin.get(f"/roles/{info['role']}"))["name"]
    data(admin.post(f"/items/{name}", [{"text": "hers", "owner_email": info["email"]},
                                       {"text": "other", "owner_email": "someone@example.com"}]))
    assert [r["text"] for r in data(user.get(f"/items/{name}"))] == ["hers"]
    # a preset through a relation: the user's role's name
    made = data(user.post(f"/items/{name}", {"text": "made", "owner_email": info["email"]}))
    assert made["role_name"] == role_name, made
    # the user's e-mail changes: the next request reads the new one
    new_email = uniq("renamed") + "@example.com"
    data(admin.patch(f"/users/{info['user']}", {"email": new_email}))
    data(admin.post(f"/items/{name}", {"text": "renamed's", "owner_email": new_email}))
    assert [r["text"] for r in data(Api(user.base_url).login(new_email, info["password"]).get(f"/items/{name}"))] == ["renamed's"]


def test_query_filters_and_the_other_roots(admin):
    name = notes(admin)
    info, user = create_user_with_policy(admin, permissions=[{"collection": name, "action": "read", "fields": ["*"]}])
    role_name = data(admin.get(f"/roles/{info['role']}"))["name"]
    policy_name = data(admin.get(f"/policies/{info['policy']}"))["name"]
    data(admin.post(f"/items/{name}", [{"text": "a", "owner_email": info["email"], "role_name": role_name},
                                       {"text": "b", "owner_email": "x@example.com", "role_name": policy_name}]))

    def texts(flt):
        return [r["text"] for r in data(user.get(f"/items/{name}", params={"filter": json.dumps(flt), "sort": "id"}))]

    assert texts({"owner_email": {"_eq": "$CURRENT_USER.email"}}) == ["a"]
    assert texts({"role_name": {"_eq": "$CURRENT_ROLE.name"}}) == ["a"]
    assert texts({"role_name": {"_eq": "$CURRENT_ROLES.0.name"}}) == ["a"]
    assert texts({"role_name": {"_eq": "$CURRENT_POLICIES.0.name"}}) == ["b"]
    # lodash get: an array has no key `name`, an unknown key is null
    assert texts({"role_name": {"_eq": "$CURRENT_POLICIES.name"}}) == []
    # a field the user row does not have: Directus's read of the user fails, so does the request
    err = user.get(f"/items/{name}", params={"filter": json.dumps({"text": {"_eq": "$CURRENT_USER.nickname"}})})
    assert err.status_code == 400 and err.json()["errors"][0]["extensions"]["code"] == "INVALID_QUERY", err.text
    assert "$CURRENT_USER.nickname" in err.json()["errors"][0]["message"], err.text


@run_async
async def test_live_subscriptions_resolve_paths_of_permissions_and_of_their_own_filter(server, admin):
    name = notes(admin)
    info, user = user_reading_own_email_rows(admin, name)
    role_name = data(admin.get(f"/roles/{info['role']}"))["name"]
    ws = await authed(server, user.token)
    # the permission's $CURRENT_USER.email
    init = await ws.subscribe(name, uid="perm", query={"fields": ["id", "text"]})
    assert init["event"] == "init" and init["data"] == [], init
    # the subscription's own filter: read before the subscribe goes on
    init = await ws.subscribe(name, uid="own", query={"fields": ["id", "text"],
                                                      "filter": {"role_name": {"_eq": "$CURRENT_USER.role.name"}}})
    assert init["event"] == "init" and init["data"] == [], init
    data(admin.post(f"/items/{name}", {"text": "not hers", "owner_email": "x@example.com", "role_name": role_name}))
    row = data(admin.post(f"/items/{name}", {"text": "hers", "owner_email": info["email"], "role_name": role_name}))
    got = {}
    for _ in range(2):
        frame = await ws.recv(timeout=5)
        got[frame["uid"]] = frame
    assert got["perm"]["event"] == "create" and got["perm"]["data"] == [{"id": row["id"], "text": "hers"}], got
    assert got["own"]["data"] == [{"id": row["id"], "text": "hers"}], got
    # a path the user row does not have is an error, not a hang
    err = await ws.subscribe(name, uid="bad", query={"filter": {"text": {"_eq": "$CURRENT_USER.no_such_field"}}})
    assert_error_frame(err, "subscribe", "INVALID_QUERY", uid="bad")
    # the socket still serves
    assert (await ws.subscribe(name, uid="again", query={"fields": ["id"]}))["event"] == "init"
    await ws.close()


@run_async
async def test_a_graphql_subscription_filter_reads_its_paths_too(server, admin):
    from test_graphql_subscriptions import gql_ready, mutated, subscribe, until_live

    name = notes(admin)
    info, user = create_user_with_policy(admin, permissions=[{"collection": name, "action": "read", "fields": ["*"]}])
    ws = await gql_ready(server, token=user.token)
    await subscribe(ws, "s", f"subscription {{ {name}_mutated(filter: {{owner_email: {{_eq: \"$CURRENT_USER.email\"}}}}) "
                             "{ key event data { text } } }")
    await until_live(ws, "s", admin, name, {"text": "probe", "owner_email": info["email"]})
    data(admin.post(f"/items/{name}", {"text": "other", "owner_email": "x@example.com"}))
    data(admin.post(f"/items/{name}", {"text": "hers", "owner_email": info["email"]}))
    frames = await ws.collect(quiet=0.7)
    assert [mutated(f, name)["data"] for f in frames] == [{"text": "hers"}], frames
    await ws.close()
