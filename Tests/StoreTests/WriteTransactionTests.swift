import Query
import Store
import SwitchboardCore
import Testing

enum SlugFixture {
    static func make(_ store: Store) async throws {
        _ = try await store.changeSchema { editor in
            try await editor.createCollection([
                "collection": "pages",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "slug", "type": "string", "schema": ["is_unique": true, "is_nullable": false]],
                    ["field": "title", "type": "string"],
                ],
            ])
        }
    }
}

@Suite struct WriteTransactionTests {
    @Test func aDuplicateInABatchRollsBackTheWholeBatch() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.createItems(
                    "pages", [["slug": "home", "title": "first"], ["slug": "home", "title": "second"]], context: .system)
            }
            #expect(error?.code == .recordNotUnique)
            #expect(error?.extensions["field"] == "slug")
            #expect(error?.extensions["collection"] == "pages")
            #expect(try await store.sqlCount("pages") == 0)
            // Nothing half-done is left behind: the slug is still free, and no activity was recorded.
            #expect(try await store.createItems("pages", [["slug": "home"]], context: .system) == [1])
            #expect(try await store.sqlCount("directus_activity") == 1)
        }
    }

    @Test func aDuplicateOfAnExistingRowIsNotUnique() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            _ = try await store.createItems("pages", [["slug": "home"], ["slug": "about"]], context: .system)
            let create = await #expect(throws: SwitchboardError.self) {
                try await store.createItems("pages", [["slug": "new"], ["slug": "about"]], context: .system)
            }
            #expect(create?.code == .recordNotUnique)
            let update = await #expect(throws: SwitchboardError.self) {
                try await store.updateItems("pages", keys: [2], data: ["slug": "home"], context: .system)
            }
            #expect(update?.code == .recordNotUnique)
            #expect(try await store.allRows("pages", fields: ["slug"]) == [["slug": "home"], ["slug": "about"]])
        }
    }

    @Test func aMissingRequiredValueIsANotNullViolation() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.createItems("pages", [["title": "no slug"]], context: .system)
            }
            #expect(error?.code == .notNullViolation)
            #expect(error?.extensions["field"] == "slug")
        }
    }

    @Test func aFailureInsideWriteRollsBackEveryOperation() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            _ = try await store.createItems("pages", [["slug": "keep", "title": "before"]], context: .system)
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await store.write(context: .system) { tx in
                    _ = try await tx.create("pages", [["slug": "temp"]])
                    _ = try await tx.update("pages", keys: [1], data: ["title": "after"])
                    throw Abort()
                }
            }
            #expect(try await store.allRows("pages", fields: ["slug", "title"]) == [["slug": "keep", "title": "before"]])
        }
    }

    @Test func updateAndDeleteReturnTheTouchedKeys() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            _ = try await store.createItems("pages", [["slug": "a"], ["slug": "b"], ["slug": "c"]], context: .system)
            #expect(try await store.updateItems("pages", keys: [1, 2], data: ["title": "t"], context: .system) == [1, 2])
            #expect(try await store.updateBatch("pages", [["id": 3, "title": "three"]], context: .system) == [3])
            #expect(
                try await store.deleteItems("pages", query: try query(["filter": ["title": ["_eq": "t"]]]), context: .system) == [
                    1, 2,
                ])
            #expect(try await store.allRows("pages", fields: ["id", "title"]) == [["id": 3, "title": "three"]])
        }
    }

    @Test func updatingOrDeletingAMissingKeyIsForbidden() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            _ = try await store.createItems("pages", [["slug": "a"]], context: .system)
            let update = await #expect(throws: SwitchboardError.self) {
                try await store.updateItems("pages", keys: [1, 42], data: ["title": "x"], context: .system)
            }
            #expect(update?.code == .forbidden)
            let delete = await #expect(throws: SwitchboardError.self) {
                try await store.deleteItems("pages", keys: [42], context: .system)
            }
            #expect(delete?.code == .forbidden)
            #expect(try await store.allRows("pages", fields: ["title"]) == [["title": nil]])
        }
    }
}

@Suite struct ChangeEventTests {
    @Test func eachCommittedWritePublishesOneEventWithImages() async throws {
        try await onEachDatabase { store in
            try await SlugFixture.make(store)
            let recorder = EventRecorder()
            store.addSink(recorder)
            let user = newUserID()
            let context = adminContext(user)

            _ = try await store.createItems(
                "pages", [["slug": "a", "title": "A"], ["slug": "b", "title": "B"]], context: context)
            _ = try await store.updateItems("pages", keys: [1], data: ["title": "A2"], context: context)
            _ = try await store.deleteItems("pages", keys: [2], context: context)

            let events = await recorder.events(of: "pages")
            #expect(events.map(\.seq) == [1, 2, 3])
            #expect(events.map(\.action) == [.create, .update, .delete])
            #expect(events.map(\.keys) == [[1, 2], [1], [2]])
            #expect(events.map(\.origin) == ["test-replica", "test-replica", "test-replica"])
            #expect(events.allSatisfy { $0.userID == user })
            // Create and update carry the rows after the write, delete the rows before it.
            #expect(events[0].rows == [["id": 1, "slug": "a", "title": "A"], ["id": 2, "slug": "b", "title": "B"]])
            #expect(events[1].rows == [["id": 1, "slug": "a", "title": "A2"]])
            #expect(events[2].rows == [["id": 2, "slug": "b", "title": "B"]])
        }
    }

    @Test func aFailedWritePublishesNothingAndUsesNoSequenceNumber() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            let recorder = EventRecorder()
            store.addSink(recorder)
            _ = try await store.createItems("pages", [["slug": "a"]], context: .system)
            let before = await recorder.events.count
            await #expect(throws: SwitchboardError.self) {
                try await store.createItems("pages", [["slug": "b"], ["slug": "a"]], context: .system)
            }
            await #expect(throws: SwitchboardError.self) {
                try await store.updateItems("pages", keys: [99], data: ["title": "x"], context: .system)
            }
            #expect(await recorder.events.count == before)
            #expect(try await store.outbox.events("pages", after: 0).map(\.seq) == [1])
            _ = try await store.createItems("pages", [["slug": "c"]], context: .system)
            #expect(await recorder.events(of: "pages").map(\.seq) == [1, 2])
        }
    }

    @Test func userCollectionsRecordActivityRowsAndTheirEvent() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            let recorder = EventRecorder()
            store.addSink(recorder)
            let user = newUserID()
            let context = ItemsContext(
                accountability: Accountability(
                    userID: user, admin: true, ip: "10.0.0.7", userAgent: "tests/1.0", origin: "https://app.example"),
                permissions: .administrator)
            _ = try await store.createItems("pages", [["slug": "a"], ["slug": "b"]], context: context)
            _ = try await store.updateItems("pages", keys: [2], data: ["title": "bee"], context: context)
            _ = try await store.deleteItems("pages", keys: [1], context: context)

            let activity = try await store.allRows(
                "directus_activity", fields: ["id", "action", "user", "collection", "item", "ip", "user_agent", "origin"])
            #expect(
                activity == [
                    [
                        "id": 1, "action": "create", "user": .string(user), "collection": "pages", "item": "1", "ip": "10.0.0.7",
                        "user_agent": "tests/1.0", "origin": "https://app.example",
                    ],
                    [
                        "id": 2, "action": "create", "user": .string(user), "collection": "pages", "item": "2", "ip": "10.0.0.7",
                        "user_agent": "tests/1.0", "origin": "https://app.example",
                    ],
                    [
                        "id": 3, "action": "update", "user": .string(user), "collection": "pages", "item": "2", "ip": "10.0.0.7",
                        "user_agent": "tests/1.0", "origin": "https://app.example",
                    ],
                    [
                        "id": 4, "action": "delete", "user": .string(user), "collection": "pages", "item": "1", "ip": "10.0.0.7",
                        "user_agent": "tests/1.0", "origin": "https://app.example",
                    ],
                ])
            let timestamps = try await store.allRows("directus_activity", fields: ["timestamp"]).compactMap {
                $0["timestamp"]?.stringValue
            }
            #expect(timestamps.count == 4)
            #expect(timestamps.allSatisfy { ISOTimestamp(parsing: $0) != nil && $0.hasSuffix("Z") })

            let activityEvents = await recorder.events(of: "directus_activity")
            #expect(activityEvents.map(\.seq) == [1, 2, 3])
            #expect(activityEvents.map(\.action) == [.create, .create, .create])
            #expect(activityEvents.map(\.keys) == [[1, 2], [3], [4]])
            #expect(activityEvents[2].rows.first?["action"] == "delete")
            #expect(activityEvents[2].rows.first?["item"] == "1")
        }
    }

    @Test func collectionsWithoutAccountabilityRecordNoActivity() async throws {
        try await withStore { store in
            _ = try await store.changeSchema { editor in
                try await editor.createCollection([
                    "collection": "metrics", "meta": ["accountability": nil],
                    "fields": [["field": "value", "type": "integer"]],
                ])
            }
            let recorder = EventRecorder()
            store.addSink(recorder)
            _ = try await store.createItems("metrics", [["value": 1]], context: .system)
            #expect(try await store.sqlCount("directus_activity") == 0)
            #expect(await recorder.events.map(\.collection) == ["metrics"])
        }
    }

    @Test func theOutboxReturnsTheCommittedEventsInOrder() async throws {
        try await onEachDatabase { store in
            try await SlugFixture.make(store)
            let recorder = EventRecorder()
            store.addSink(recorder)
            _ = try await store.createItems("pages", [["slug": "a"]], context: .system)
            _ = try await store.updateItems("pages", keys: [1], data: ["title": "x"], context: .system)
            _ = try await store.createItems("pages", [["slug": "b"]], context: .system)
            _ = try await store.deleteItems("pages", keys: [1, 2], context: .system)

            let published = await recorder.events(of: "pages")
            let stored = try await store.outbox.events("pages", after: 0)
            #expect(stored.map(\.seq) == [1, 2, 3, 4])
            #expect(try await store.outbox.currentSeq("pages") == 4)
            // The outbox holds exactly what subscribers were sent.
            #expect(stored.map(\.json.jsonString) == published.map(\.json.jsonString))
            #expect(try await store.outbox.events("pages", after: 2).map(\.seq) == [3, 4])
            #expect(try await store.outbox.events("pages", after: 2, limit: 1).map(\.seq) == [3])
            #expect(try await store.outbox.events("pages", after: 4).isEmpty)
            #expect(try await store.outbox.events("nothing", after: 0).isEmpty)
            #expect(try await store.outbox.events("directus_activity", after: 0).map(\.seq) == [1, 2, 3, 4])
            // The activity events too (on PostgreSQL a one-item write stores its event, the activity
            // row and the activity event in one statement; the delete of two takes the long way),
            // with the keys of the rows in directus_activity.
            let activity = try await store.outbox.events("directus_activity", after: 0)
            #expect(activity.map(\.json.jsonString) == (await recorder.events(of: "directus_activity")).map(\.json.jsonString))
            #expect(activity.flatMap(\.keys) == (try await store.allRows("directus_activity", fields: ["id"])).map { $0["id"] })
            #expect(activity.flatMap(\.rows).map { $0["item"] } == ["1", "1", "2", "1", "2"])
        }
    }

    @Test func eventsSurviveTheirJSONForm() async throws {
        try await onEachDatabase { store in
            try await SlugFixture.make(store)
            let recorder = EventRecorder()
            store.addSink(recorder)
            _ = try await store.createItems(
                "pages", [["slug": "a", "title": "ünïcode \"quoted\""]], context: adminContext(newUserID()))
            let event = try #require(await recorder.events(of: "pages").first)
            #expect(ChangeEvent(json: event.json) == event)
            #expect(ChangeEvent(json: try #require(JSONValue(parsing: event.json.jsonString).objectValue)) == event)
        }
    }

    @Test func theTextAroundTheSeqRendersTheEvent() {
        let event = ChangeEvent(
            collection: "p\"ages", seq: 0, action: .update, keys: [7], rows: [["id": 7, "t": "ü"]],
            previous: [["id": 7, "t": "u"]], origin: "r1", userID: nil, timestamp: ISOTimestamp(epochSeconds: 0))
        let text = event.jsonAroundSeq
        for seq: Int64 in [1, 42, 9_007_199_254_740_993] {
            var numbered = event
            numbered.seq = seq
            #expect(text.prefix + String(seq) + text.suffix == numbered.json.jsonString)
        }
    }

    @Test func trimmingCapsEachCollectionAndExpiresOldEvents() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            for i in 1...10 { _ = try await store.createItems("pages", [["slug": .string("p\(i)")]], context: .system) }
            let future = ISOTimestamp.now().epochMilliseconds + 3_600_000
            #expect(try await store.outbox.trim(olderThan: 0, maxPerCollection: 100) == 0)
            #expect(try await store.outbox.events("pages", after: 0).count == 10)

            let removed = try await store.outbox.trim(olderThan: 0, maxPerCollection: 3)
            #expect(removed == 14)  // 7 of pages, 7 of directus_activity
            #expect(try await store.outbox.events("pages", after: 0).map(\.seq) == [8, 9, 10])
            #expect(try await store.outbox.events("directus_activity", after: 0).map(\.seq) == [8, 9, 10])
            // Sequence numbers keep counting after a trim.
            _ = try await store.createItems("pages", [["slug": "p11"]], context: .system)
            #expect(try await store.outbox.events("pages", after: 0).map(\.seq) == [8, 9, 10, 11])
            // Past the retention age everything goes.
            _ = try await store.outbox.trim(olderThan: future, maxPerCollection: 100)
            #expect(try await store.outbox.events("pages", after: 0).isEmpty)
        }
    }

    @Test func trimmingNeverRemovesWhatALiveReplicaHasNotDelivered() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            for i in 1...10 { _ = try await store.createItems("pages", [["slug": .string("p\(i)")]], context: .system) }
            try await store.outbox.reportPositions(replica: "slow", ["pages": 4])
            let future = ISOTimestamp.now().epochMilliseconds + 3_600_000
            _ = try await store.outbox.trim(olderThan: future, maxPerCollection: 1)
            #expect(try await store.outbox.events("pages", after: 0).map(\.seq) == [5, 6, 7, 8, 9, 10])
        }
    }

    @Test func concurrentCreatesGetGaplessSequenceNumbers() async throws {
        try await withStore { store in
            try await SlugFixture.make(store)
            let recorder = EventRecorder()
            store.addSink(recorder)
            try await withThrowingTaskGroup(of: [JSONValue].self) { group in
                for i in 1...50 {
                    group.addTask { try await store.createItems("pages", [["slug": .string("page-\(i)")]], context: .system) }
                }
                var keys: [JSONValue] = []
                for try await k in group { keys += k }
                #expect(Set(keys).count == 50)
            }
            #expect(try await store.sqlCount("pages") == 50)
            let count = try await store.readItems(
                "pages", query: try query(["aggregate": ["countDistinct": "slug"]]), context: .system)
            #expect(count.data == [["countDistinct": ["slug": 50]]])
            #expect(try await store.outbox.events("pages", after: 0).map(\.seq) == Array(1...50))
            // Sinks hear about commits in commit order.
            #expect(await recorder.events(of: "pages").map(\.seq) == Array(1...50))
            #expect(await recorder.events(of: "directus_activity").map(\.seq) == Array(1...50))
        }
    }
}
