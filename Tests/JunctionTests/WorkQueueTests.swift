@testable import Junction
import Synchronization
import Testing

/// A value shared by tasks.
private final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}

@Suite("Work queue between a process's Listen and its worker tasks", .timeLimit(.minutes(1)))
struct WorkQueueTests {
    @Test("Every element reaches exactly one worker, and the workers end once the queue is finished and empty")
    func everyElementOnce() async {
        let queue = WorkQueue<Int>(capacity: 4)
        let seen = Locked<[Int]>([])
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    while let element = await queue.next() { seen.withLock { $0.append(element) } }
                }
            }
            for element in 0..<10_000 { await queue.push(element) }
            queue.finish()
        }
        let all = seen.withLock { $0 }
        #expect(all.count == 10_000 && Set(all) == Set(0..<10_000))
    }

    @Test("With every worker busy, at most capacity elements wait: the producer waits for a worker to take one")
    func producerWaitsWhenFull() async throws {
        let queue = WorkQueue<Int>(capacity: 2)
        let pushed = Locked(0)
        let producer = Task {
            for element in 0..<5 {
                await queue.push(element)
                pushed.withLock { $0 += 1 }
            }
        }
        // No worker yet: two are queued, the third push waits.
        try await waitUntil("two elements queued") { pushed.withLock { $0 } == 2 }
        #expect(await queue.next() == 0)
        // Taking one lets exactly one more in.
        try await waitUntil("a third element queued") { pushed.withLock { $0 } == 3 }
        #expect(pushed.withLock { $0 } == 3)
        var rest: [Int] = []
        for _ in 0..<4 { rest.append(await queue.next() ?? -1) }
        await producer.value
        #expect(rest == [1, 2, 3, 4])
        queue.finish()
        #expect(await queue.next() == nil)
    }

    @Test("An idle worker waiting for work is woken with nil by finish")
    func finishWakesIdleWorkers() async {
        let queue = WorkQueue<Int>(capacity: 1)
        async let first = queue.next()
        async let second = queue.next()
        await queue.push(7)
        queue.finish()
        let results = await [first, second]
        #expect(results.contains(7) && results.contains(nil))
    }
}
