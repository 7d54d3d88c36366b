import MQTTBroker
import Synchronization

/// Deliveries waiting for the bridge's writer, handed over in batches. QoS 1/2 deliveries are
/// bounded by the session's receive maximum; QoS 0 ones are not, so beyond `limit` waiting
/// deliveries a QoS 0 one is dropped.
final class DeliveryInbox: Sendable {
    private let state = Mutex<(items: [BrokerDelivery], finished: Bool)>(([], false))
    private let signal = ChangeSignal()
    let limit: Int

    init(limit: Int = 10_000) { self.limit = limit }

    func add(_ delivery: BrokerDelivery) {
        let added = state.withLock { state in
            guard delivery.qos != .atMostOnce || state.items.count < limit else { return false }
            state.items.append(delivery)
            return true
        }
        if added { signal.notify() }
    }

    func finish() {
        state.withLock { $0.finished = true }
        signal.notify()
    }

    /// Everything that arrived, waiting for at least one; nil once finished and empty.
    func next() async -> [BrokerDelivery]? {
        while true {
            let seen = signal.generation
            let (items, finished) = state.withLock { state in
                defer { state.items = [] }
                return (state.items, state.finished)
            }
            if !items.isEmpty { return items }
            if finished || Task.isCancelled { return nil }
            await signal.wait(since: seen)
        }
    }
}
