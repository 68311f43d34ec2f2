import Foundation
import Query
import Store
import SwitchboardCore
import Testing

/// `Store.readAtSeq`: a read and the seq of the last change it includes, taken together (the base
/// of aggregate subscriptions' in-memory counts). SQLite, and PostgreSQL with SWITCHBOARD_TEST_PG.
@Suite struct ReadAtSeqTests {
    private static func makeTasks(_ store: Store) async throws {
        _ = try await store.changeSchema { editor in
            try await editor.createCollection([
                "collection": "tasks",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "done", "type": "boolean"],
                ],
            ])
        }
    }

    private static var countQuery: ItemQuery {
        var q = ItemQuery()
        q.aggregate = [AggregateRequest(function: .countAll, fields: ["*"])]
        return q
    }

    @Test func aCollectionWithoutChangesIsAtSeqZero() async throws {
        try await onEachDatabase { store in
            try await Self.makeTasks(store)
            let read = try await store.readAtSeq("tasks", query: Self.countQuery, context: .system)
            #expect(read.seq == 0)
            #expect(read.result.data == [["countAll": 0]])
            // The seq row it may leave behind counts on from 0.
            _ = try await store.createItems("tasks", [["done": true]], context: .system)
            #expect(try await store.readAtSeq("tasks", query: Self.countQuery, context: .system).seq == 1)
        }
    }

    /// Reads racing writes: every answer's count is the number of rows the seq says were created.
    @Test func theSeqIsTheLastChangeTheReadIncludes() async throws {
        try await onEachDatabase { store in
            try await Self.makeTasks(store)
            try await withThrowingTaskGroup(of: [(Int64, Int64)].self) { group in
                group.addTask {
                    for _ in 0..<30 { _ = try await store.createItems("tasks", [["done": false]], context: .system) }
                    return []
                }
                group.addTask {
                    var seen: [(Int64, Int64)] = []
                    for _ in 0..<30 {
                        let read = try await store.readAtSeq("tasks", query: Self.countQuery, context: .system)
                        seen.append((read.seq, read.result.data.first?["countAll"]?.intValue ?? -1))
                    }
                    return seen
                }
                for try await seen in group {
                    for (seq, count) in seen { #expect(seq == count) }
                }
            }
        }
    }
}
