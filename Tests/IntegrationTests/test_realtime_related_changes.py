"""Relational fields and filters stay live when the related rows change (README "Related rows").

A subscriber to posts with `author.email` gets an `update` (without `seq`) of the posts whose
author changed; o2m fields (`comments.text`) follow children created, moved and deleted; a
`live` filter through a relation sends `delete` with `reason: "left"`; a resume with `after` of
such a subscription is a fresh `init` (`resumed: false`); more rows than
WEBSOCKETS_RELATED_ROWS_MAX close the subscribers (1011). An update of a related row that changed
none of the fields the subscription shows or filters by (nor its read permission there reads)
sends nothing. A query filter through a relation applies the related collection's read
permission row filter as the server's: not refused for fields of it the caller cannot read.
"""

from __future__ import annotations

import json

from harness import create_collection, create_field, create_user_with_policy, data, uniq
from wsclient import authed, in_thread, open_ws, run_async


def blog(admin):
    """companies ← authors.company, authors ← posts.author, posts ← comments.post (o2m posts.comments)."""
    companies, authors, posts, comments = uniq("rcomp"), uniq("rauth"), uniq("rposts"), uniq("rcomm")
    create_collection(admin, companies, [{"field": "name", "type": "string"}])
    create_collection(admin, authors, [{"field": "email", "type": "string"}, {"field": "status", "type": "string"}])
    create_field(admin, authors, "company", "integer", meta={"special": ["m2o"]})
    create_collection(admin, posts, [{"field": "title", "type": "string"}])
    create_field(admin, posts, "author", "integer", meta={"special": ["m2o"]})
    create_collection(admin, comments, [{"field": "text", "type": "string"}])
    create_field(admin, comments, "post", "integer", meta={"special": ["m2o"]})
    create_field(admin, posts, "comments", "alias", meta={"special": ["o2m"], "interface": "list-o2m"})
    data(admin.post("/relations", {"collection": authors, "field": "company", "related_collection": companies}))
    data(admin.post("/relations", {"collection": posts, "field": "author", "related_collection": authors}))
    data(admin.post("/relations", {"collection": comments, "field": "post", "related_collection": posts,
                                   "meta": {"one_field": "comments"}}))
    return companies, authors, posts, comments


def rest(api, name, **params):
    out = {k: json.dumps(v) if isinstance(v, dict) else ",".join(v) if isinstance(v, list) else v
           for k, v in params.items()}
    return data(api.get(f"/items/{name}", params=out))


def rest_keys(api, name, keys, fields):
    return rest(api, name, fields=fields, filter={"id": {"_in": keys}}, sort=["id"])


def assert_derived(frame, uid, event="update"):
    assert frame["type"] == "subscription" and frame["event"] == event and frame["uid"] == uid, frame
    assert "seq" not in frame, f"a related change has no seq on this collection: {frame!r}"


@run_async
async def test_m2o_field_follows_the_related_row(server, admin):
    _, authors, posts, _ = blog(admin)
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x", "status": "active"}))
    bob = data(admin.post(f"/items/{authors}", {"email": "bob@x", "status": "active"}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    p2 = data(admin.post(f"/items/{posts}", {"title": "two", "author": ann["id"]}))
    data(admin.post(f"/items/{posts}", {"title": "three", "author": bob["id"]}))
    fields = ["id", "title", "author.email"]
    ws = await authed(server)
    await ws.subscribe(posts, uid="p", query={"fields": fields})
    await in_thread(admin.patch, f"/items/{authors}/{ann['id']}", {"email": "ann@y"})
    frame = await ws.recv()
    assert_derived(frame, "p")
    assert sorted(frame["data"], key=lambda r: r["id"]) == rest_keys(admin, posts, [p1["id"], p2["id"]], fields)
    assert {r["author"]["email"] for r in frame["data"]} == {"ann@y"}
    await ws.expect_silence()
    # A change of the posts themselves still carries its seq.
    await in_thread(admin.patch, f"/items/{posts}/{p1['id']}", {"title": "uno"})
    frame = await ws.recv()
    assert frame["event"] == "update" and isinstance(frame["seq"], int), frame
    await ws.close()


@run_async
async def test_a_related_change_of_fields_not_shown_sends_nothing(server, admin):
    _, authors, posts, _ = blog(admin)
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x", "status": "active"}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    fields = ["id", "author.email"]
    ws = await authed(server)
    await ws.subscribe(posts, uid="p", query={"fields": fields})
    # A reader whose permission on authors reads `status`: a status change may change what it sees.
    _, reader = create_user_with_policy(admin, permissions=[
        {"collection": posts, "action": "read", "fields": ["*"]},
        {"collection": authors, "action": "read", "fields": ["*"], "permissions": {"status": {"_eq": "active"}}},
    ])
    guarded = await authed(server, reader.token)
    await guarded.subscribe(posts, uid="g", query={"fields": fields})
    await in_thread(admin.patch, f"/items/{authors}/{ann['id']}", {"status": "away"})
    frame = await guarded.recv()
    assert_derived(frame, "g")
    assert frame["data"] == rest_keys(reader, posts, [p1["id"]], fields), frame
    await ws.expect_silence(1.0)
    # The positive control: the next related frame is the email change, not a late status one.
    await in_thread(admin.patch, f"/items/{authors}/{ann['id']}", {"email": "ann@y"})
    frame = await ws.recv()
    assert_derived(frame, "p")
    assert frame["data"] == rest_keys(admin, posts, [p1["id"]], fields) == [{"id": p1["id"], "author": {"email": "ann@y"}}]
    await ws.expect_silence()
    await ws.close()
    await guarded.close()


@run_async
async def test_a_related_read_permission_through_a_relation_is_followed(server, admin):
    companies, authors, posts, _ = blog(admin)
    acme = data(admin.post(f"/items/{companies}", {"name": "acme"}))
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x", "company": acme["id"]}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    fields = ["id", "author.email"]
    _, reader = create_user_with_policy(admin, permissions=[
        {"collection": posts, "action": "read", "fields": ["*"]},
        {"collection": authors, "action": "read", "fields": ["*"], "permissions": {"company": {"name": {"_eq": "acme"}}}},
        {"collection": companies, "action": "read", "fields": ["*"]},
    ])
    ws = await authed(server, reader.token)
    init = await ws.subscribe(posts, uid="p", query={"fields": fields})
    assert init["data"] == [{"id": p1["id"], "author": {"email": "ann@x"}}], init
    await in_thread(admin.patch, f"/items/{companies}/{acme['id']}", {"name": "acme2"})
    frame = await ws.recv()
    assert_derived(frame, "p")
    assert frame["data"] == rest_keys(reader, posts, [p1["id"]], fields), frame
    assert frame["data"][0]["author"] is None, frame
    await ws.close()


@run_async
async def test_a_deeper_m2o_path_follows_each_collection_on_it(server, admin):
    companies, authors, posts, _ = blog(admin)
    acme = data(admin.post(f"/items/{companies}", {"name": "acme"}))
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x", "company": acme["id"]}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    fields = ["id", "author.company.name"]
    ws = await authed(server)
    await ws.subscribe(posts, uid="p", query={"fields": fields})
    await in_thread(admin.patch, f"/items/{companies}/{acme['id']}", {"name": "acme2"})
    frame = await ws.recv()
    assert_derived(frame, "p")
    assert frame["data"] == rest_keys(admin, posts, [p1["id"]], fields)
    assert frame["data"][0]["author"]["company"]["name"] == "acme2"
    # A company nobody's post leads to sends nothing.
    other = data(admin.post(f"/items/{companies}", {"name": "other"}))
    await in_thread(admin.patch, f"/items/{companies}/{other['id']}", {"name": "other2"})
    await ws.expect_silence()
    await ws.close()


@run_async
async def test_o2m_field_follows_children_created_moved_and_deleted(server, admin):
    _, _, posts, comments = blog(admin)
    p1 = data(admin.post(f"/items/{posts}", {"title": "one"}))
    p2 = data(admin.post(f"/items/{posts}", {"title": "two"}))
    fields = ["id", "comments.text"]
    ws = await authed(server)
    await ws.subscribe(posts, uid="p", query={"fields": fields})
    c = data(await in_thread(admin.post, f"/items/{comments}", {"text": "hi", "post": p1["id"]}))
    frame = await ws.recv()
    assert_derived(frame, "p")
    assert frame["data"] == rest_keys(admin, posts, [p1["id"]], fields) == [{"id": p1["id"], "comments": [{"text": "hi"}]}]
    # Moving the comment changes both posts.
    await in_thread(admin.patch, f"/items/{comments}/{c['id']}", {"post": p2["id"]})
    frame = await ws.recv()
    assert_derived(frame, "p")
    assert sorted(frame["data"], key=lambda r: r["id"]) == rest_keys(admin, posts, [p1["id"], p2["id"]], fields)
    await in_thread(admin.delete, f"/items/{comments}/{c['id']}")
    frame = await ws.recv()
    assert frame["data"] == [{"id": p2["id"], "comments": []}], frame
    await ws.close()


@run_async
async def test_a_live_filter_through_a_relation_enters_and_leaves(server, admin):
    _, authors, posts, _ = blog(admin)
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x", "status": "active"}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    q = {"fields": ["id", "title"], "filter": {"author": {"status": {"_eq": "active"}}}}
    ws = await authed(server)
    plain = await authed(server)
    init = await ws.subscribe(posts, uid="l", live=True, query=q)
    assert init["data"] == [{"id": p1["id"], "title": "one"}]
    await plain.subscribe(posts, uid="n", query=q)
    await in_thread(admin.patch, f"/items/{authors}/{ann['id']}", {"status": "gone"})
    frame = await ws.recv()
    assert_derived(frame, "l", "delete")
    assert frame["data"] == [p1["id"]] and frame["reason"] == "left", frame
    await plain.expect_silence()  # without live: rows that no longer match send nothing
    await in_thread(admin.patch, f"/items/{authors}/{ann['id']}", {"status": "active"})
    for client, uid in ((ws, "l"), (plain, "n")):
        frame = await client.recv()
        assert_derived(frame, uid)
        assert frame["data"] == [{"id": p1["id"], "title": "one"}]
    await ws.close()
    await plain.close()


@run_async
async def test_a_row_whose_own_m2o_moves_out_of_a_live_relational_filter_leaves(server, admin):
    """The post itself changes author (no change of any author row): under a `live` filter
    through the m2o it leaves (`delete`, reason "left", with the update's seq) and comes back."""
    _, authors, posts, _ = blog(admin)
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x", "status": "active"}))
    gone = data(admin.post(f"/items/{authors}", {"email": "gone@x", "status": "gone"}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    q = {"fields": ["id", "title"], "filter": {"author": {"status": {"_eq": "active"}}}}
    ws = await authed(server)
    init = await ws.subscribe(posts, uid="l", live=True, query=q)
    assert init["data"] == [{"id": p1["id"], "title": "one"}]
    await in_thread(admin.patch, f"/items/{posts}/{p1['id']}", {"author": gone["id"]})
    frame = await ws.recv()
    assert frame["type"] == "subscription" and frame["event"] == "delete" and frame["uid"] == "l", frame
    assert frame["data"] == [p1["id"]] and frame["reason"] == "left" and isinstance(frame["seq"], int), frame
    await ws.expect_silence()
    await in_thread(admin.patch, f"/items/{posts}/{p1['id']}", {"author": ann["id"]})
    frame = await ws.recv()
    assert frame["event"] == "update" and frame["data"] == [{"id": p1["id"], "title": "one"}], frame
    await ws.close()


@run_async
async def test_rows_whose_m2o_a_delete_sets_null_leave_a_live_relational_filter(server, admin):
    """Deleting the author sets the posts' `author` to null (the relation's default SET NULL):
    under a `live` filter through the m2o those posts leave; a post of another author stays. A
    reader whose read permission goes through that m2o is told nothing (whether it could read
    the post before is not known once the author is gone)."""
    _, authors, posts, _ = blog(admin)
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x", "status": "active"}))
    bob = data(admin.post(f"/items/{authors}", {"email": "bob@x", "status": "active"}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    p2 = data(admin.post(f"/items/{posts}", {"title": "two", "author": bob["id"]}))
    q = {"fields": ["id", "title"], "filter": {"author": {"status": {"_eq": "active"}}}, "sort": ["id"]}
    ws = await authed(server)
    init = await ws.subscribe(posts, uid="l", live=True, query=q)
    assert init["data"] == [{"id": p1["id"], "title": "one"}, {"id": p2["id"], "title": "two"}]
    _, reader = create_user_with_policy(admin, permissions=[
        {"collection": posts, "action": "read", "fields": ["*"],
         "permissions": {"author": {"status": {"_eq": "active"}}}},
        {"collection": authors, "action": "read", "fields": ["*"]},
    ])
    guarded = await authed(server, reader.token)
    init = await guarded.subscribe(posts, uid="g", live=True, query={"fields": ["id"], "sort": ["id"]})
    assert init["data"] == [{"id": p1["id"]}, {"id": p2["id"]}]
    await in_thread(admin.delete, f"/items/{authors}/{ann['id']}")
    frame = await ws.recv()
    assert frame["type"] == "subscription" and frame["event"] == "delete" and frame["uid"] == "l", frame
    assert frame["data"] == [p1["id"]] and frame["reason"] == "left", frame
    await ws.expect_silence()
    await guarded.expect_silence()
    assert rest(admin, posts, fields=["id"], filter=q["filter"]) == [{"id": p2["id"]}]
    assert rest(reader, posts, fields=["id"]) == [{"id": p2["id"]}]
    await ws.close()
    await guarded.close()


@run_async
async def test_a_live_filter_through_an_o2m_follows_its_children(server, admin):
    """`comments._some` under `live`: a post leaves when its last matching comment changes, is
    deleted or moves away, and enters when one starts to match."""
    _, _, posts, comments = blog(admin)
    p1 = data(admin.post(f"/items/{posts}", {"title": "one"}))
    p2 = data(admin.post(f"/items/{posts}", {"title": "two"}))
    c = data(admin.post(f"/items/{comments}", {"text": "hot", "post": p1["id"]}))
    q = {"fields": ["id", "title"], "filter": {"comments": {"_some": {"text": {"_eq": "hot"}}}}}
    ws = await authed(server)
    init = await ws.subscribe(posts, uid="l", live=True, query=q)
    assert init["data"] == [{"id": p1["id"], "title": "one"}]

    async def left(key):
        frame = await ws.recv()
        assert frame["event"] == "delete" and frame["reason"] == "left" and frame["data"] == [key], frame

    async def entered(key, title):
        frame = await ws.recv()
        assert frame["event"] == "update" and frame["data"] == [{"id": key, "title": title}], frame

    await in_thread(admin.patch, f"/items/{comments}/{c['id']}", {"text": "cold"})
    await left(p1["id"])
    await in_thread(admin.patch, f"/items/{comments}/{c['id']}", {"text": "hot"})
    await entered(p1["id"], "one")
    await in_thread(admin.patch, f"/items/{comments}/{c['id']}", {"post": p2["id"]})
    frames = [await ws.recv(), await ws.recv()]
    assert {(f["event"], json.dumps(f["data"])) for f in frames} == {
        ("delete", json.dumps([p1["id"]])), ("update", json.dumps([{"id": p2["id"], "title": "two"}]))}, frames
    await in_thread(admin.delete, f"/items/{comments}/{c['id']}")
    await left(p2["id"])
    await ws.expect_silence()
    await ws.close()


@run_async
async def test_resume_of_a_relational_subscription_is_a_fresh_init(server, admin):
    _, authors, posts, _ = blog(admin)
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x"}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    fields = ["id", "author.email"]
    ws = await authed(server)
    await ws.subscribe(posts, uid="p", query={"fields": fields})
    await in_thread(admin.patch, f"/items/{posts}/{p1['id']}", {"title": "uno"})
    seq = (await ws.recv())["seq"]
    await ws.close()
    await in_thread(admin.patch, f"/items/{authors}/{ann['id']}", {"email": "ann@z"})
    ws = await authed(server)
    init = await ws.subscribe(posts, uid="p", query={"fields": fields}, after=seq)
    assert init["event"] == "init" and init["resumed"] is False, init
    assert init["data"] == rest(admin, posts, fields=fields) == [{"id": p1["id"], "author": {"email": "ann@z"}}]
    # A plain-field subscription still resumes by replay.
    plain = await ws.subscribe(posts, uid="q", query={"fields": ["id", "title"]}, after=seq)
    assert plain.get("resumed") is True, plain
    await ws.close()


@run_async
async def test_more_related_rows_than_the_limit_close_the_subscribers(server_factory):
    srv = server_factory({"WEBSOCKETS_RELATED_ROWS_MAX": "2", "METRICS_ENABLED": "true"}, name="related-limit")
    admin = srv.admin()
    _, authors, posts, _ = blog(admin)
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x"}))
    for i in range(3):
        data(admin.post(f"/items/{posts}", {"title": f"p{i}", "author": ann["id"]}))
    ws = await authed(srv)
    await ws.subscribe(posts, uid="p", query={"fields": ["id", "author.email"]})
    await in_thread(admin.patch, f"/items/{authors}/{ann['id']}", {"email": "ann@y"})
    code, _ = await ws.expect_close()
    assert code == 1011
    metrics = srv.api().get("/metrics", headers={"Authorization": "Bearer admin-static-token"}).text
    assert "realtime_related_overflows_total" in metrics


@run_async
async def test_a_filter_through_a_relation_uses_the_related_row_filter_as_the_servers(server, admin):
    """The related collection's read permission filters by `status`, which the caller may not
    read. A query filter through `author.email` applies that row filter (only readable authors
    match) but is not refused for naming `status`: the caller never named it."""
    _, authors, posts, _ = blog(admin)
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x", "status": "active"}))
    bob = data(admin.post(f"/items/{authors}", {"email": "bob@x", "status": "inactive"}))
    mine = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    data(admin.post(f"/items/{posts}", {"title": "two", "author": bob["id"]}))
    _, user = create_user_with_policy(admin, permissions=[
        {"collection": posts, "action": "read", "fields": ["id", "title", "author"]},
        {"collection": authors, "action": "read", "fields": ["id", "email"],
         "permissions": {"status": {"_eq": "active"}}},
    ])
    query = {"fields": ["id", "title"], "filter": {"author": {"email": {"_in": ["ann@x", "bob@x"]}}}, "sort": ["id"]}
    # REST: 200, only the post whose author the caller may read.
    assert rest(user, posts, **query) == [{"id": mine["id"], "title": "one"}]
    # The caller's own mention of `status` is still refused.
    refused = user.get(f"/items/{posts}", params={"filter": json.dumps({"author": {"status": {"_eq": "active"}}})})
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused.text
    # The socket: the same read, and a subscription whose init and events agree with REST.
    ws = await authed(server, user.token)
    items = await ws.items(posts, "read", uid="r", query=query)
    assert items["type"] == "items" and items["data"] == [{"id": mine["id"], "title": "one"}], items
    init = await ws.subscribe(posts, uid="p", query=query)
    assert init["event"] == "init" and init["data"] == [{"id": mine["id"], "title": "one"}], init
    data(await in_thread(admin.post, f"/items/{posts}", {"title": "bob's", "author": bob["id"]}))
    ann2 = data(await in_thread(admin.post, f"/items/{posts}", {"title": "ann's", "author": ann["id"]}))
    frame = await ws.recv()
    assert frame["event"] == "create" and frame["data"] == [{"id": ann2["id"], "title": "ann's"}], frame
    assert await ws.collect(quiet=0.5) == []
    await ws.close()
