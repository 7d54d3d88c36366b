import DequeModule
import Synchronization

/// A bounded hand-over between one producer and a fixed set of worker tasks.
///
/// A worker that finds work queued takes it without suspending, so a busy process costs no task
/// creation and no executor hop per document; only a worker with nothing to do waits.
final class WorkQueue<Element: Sendable>: Sendable {
    private struct State: ~Copyable {
        var items: Deque<Element> = []
        var idleWorkers: [UnsafeContinuation<Element?, Never>] = []
        var waitingProducer: UnsafeContinuation<Void, Never>?
        var finished = false
    }

    private enum Next { case resumed(UnsafeContinuation<Element?, Never>), queued, full }
    /// What a worker found: an element (and the producer to wake), the end, or nothing yet.
    private enum Taken { case element(Element, UnsafeContinuation<Void, Never>?), done, wait }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Hands `element` to an idle worker, or queues it; waits while `capacity` are queued.
    func push(_ element: Element) async {
        while true {
            let next = state.withLock { state -> Next in
                if !state.idleWorkers.isEmpty { return .resumed(state.idleWorkers.removeFirst()) }
                guard state.items.count < capacity else { return .full }
                state.items.append(element)
                return .queued
            }
            switch next {
            case .resumed(let worker):
                worker.resume(returning: element)
                return
            case .queued:
                return
            case .full:
                await withUnsafeContinuation { (producer: UnsafeContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        // A worker may have taken an element since the check above.
                        guard state.items.count >= capacity else { return true }
                        state.waitingProducer = producer
                        return false
                    }
                    if resumeNow { producer.resume() }
                }
            }
        }
    }

    /// No more elements: workers finish what is queued, then ``next()`` returns nil.
    func finish() {
        let idle = state.withLock { state in
            state.finished = true
            defer { state.idleWorkers.removeAll() }
            return state.idleWorkers
        }
        for worker in idle { worker.resume(returning: nil) }
    }

    /// The next element, or nil once finished and empty.
    func next() async -> Element? {
        let taken = state.withLock { state -> Taken in
            if let element = state.items.popFirst() {
                defer { state.waitingProducer = nil }
                return .element(element, state.waitingProducer)
            }
            return state.finished ? .done : .wait
        }
        switch taken {
        case .element(let element, let producer):
            producer?.resume()
            return element
        case .done:
            return nil
        case .wait:
            return await withUnsafeContinuation { (worker: UnsafeContinuation<Element?, Never>) in
                let now = state.withLock { state -> Taken in
                    // Something may have come (or the end) between the check above and here.
                    if let element = state.items.popFirst() {
                        defer { state.waitingProducer = nil }
                        return .element(element, state.waitingProducer)
                    }
                    if state.finished { return .done }
                    state.idleWorkers.append(worker)
                    return .wait
                }
                switch now {
                case .element(let element, let producer):
                    producer?.resume()
                    worker.resume(returning: element)
                case .done:
                    worker.resume(returning: nil)
                case .wait:
                    break
                }
            }
        }
    }
}
