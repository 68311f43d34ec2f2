import Synchronization

/// A queue one task drains in batches: producers append from any thread and
/// never wait; the consumer takes everything queued at once, so work that
/// piles up under load is handled together.
final class InputQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    /// Appends; false once finished.
    @discardableResult
    func append(_ item: Element) -> Bool {
        let (accepted, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !s.finished else { return (false, nil) }
            s.items.append(item)
            defer { s.waiter = nil }
            return (true, s.waiter)
        }
        waiter?.resume()
        return accepted
    }

    /// Everything queued (at most `limit`), waiting while empty; nil once finished and drained.
    func next(limit: Int) async -> [Element]? {
        while true {
            let batch = state.withLock { s -> [Element]? in
                if s.items.isEmpty { return s.finished ? nil : [] }
                if s.items.count <= limit {
                    defer { s.items = [] }
                    return s.items
                }
                let head = Array(s.items.prefix(limit))
                s.items.removeFirst(limit)
                return head
            }
            guard let batch else { return nil }
            if !batch.isEmpty { return batch }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { s -> Bool in
                        if !s.items.isEmpty || s.finished || Task.isCancelled { return true }
                        s.waiter = c
                        return false
                    }
                    if now { c.resume() }
                }
            } onCancel: {
                finish()
            }
        }
    }

    /// No more appends; the consumer drains what is left, then gets nil.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}
