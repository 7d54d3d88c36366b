import MQTTCore
import NIOCore

/// Output held until what was recorded before it is durable: per connection, in order.
extension BrokerJournal {
    struct HeldOutput {
        var connection: BrokerConnection
        var chunks: [(after: Mark, bytes: ByteBuffer)]
        var closeAfterRelease = false
    }

    /// Where in the journal something waits: after the operations of `group` before `position`.
    struct Mark {
        var group: UInt64
        var position: Int
    }

    /// The mark of something that waits for everything recorded so far.
    var here: Mark { Mark(group: openID, position: openEnd) }

    /// Whether everything recorded before `mark` is durable or cancelled out.
    func isDurable(_ mark: Mark) -> Bool {
        if mark.group <= durableUpTo { return true }
        guard mark.group == openID, committing == 0 else { return false }
        return openBase >= mark.position && (touchedAt ?? .max) >= mark.position
    }

    /// Whether `packet` for `connection` must wait for what was recorded before it.
    func mustHold(_ packet: MQTTPacket, for connection: BrokerConnection) -> Bool {
        if mode == .off { return false }
        if held[ObjectIdentifier(connection)] != nil { return true }
        guard hasPending else { return false }
        switch packet {
        case .publish(let publish): return publish.qos == .exactlyOnce
        case .pingresp: return false
        default: return true
        }
    }

    /// Holds `bytes` for `connection` until what was recorded so far is durable. `soon`: the
    /// client waits for this outside a message stream (CONNACK, SUBACK, UNSUBACK), so the open
    /// group is not held back for it.
    func hold(_ bytes: ByteBuffer, for connection: BrokerConnection, soon: Bool) {
        held[ObjectIdentifier(connection), default: HeldOutput(connection: connection, chunks: [])].chunks.append((here, bytes))
        if soon { submitSoon = true }
    }

    /// The connection is closing: true when its output is held, and it is shut after the release.
    func deferClose(_ connection: BrokerConnection) -> Bool {
        guard held[ObjectIdentifier(connection)] != nil else { return false }
        held[ObjectIdentifier(connection)]?.closeAfterRelease = true
        return true
    }

    /// The connection is gone: its held output with it.
    func forget(_ connection: BrokerConnection) {
        held[ObjectIdentifier(connection)] = nil
    }

    /// Succeeds once everything recorded so far is durable or cancelled out (at once with `off`).
    func whenDurable() -> EventLoopFuture<Void> {
        guard mode != .off, hasPending else { return loop.makeSucceededVoidFuture() }
        let promise = loop.makePromise(of: Void.self)
        durableWaiters.append((here, promise))
        return promise.futureResult
    }

    /// Writes and flushes held output whose changes are durable (or cancelled out), and
    /// resolves the waiters of those changes.
    func release() {
        if !held.isEmpty {
            for (key, var output) in held {
                var released = 0
                for chunk in output.chunks {
                    guard isDurable(chunk.after) else { break }
                    output.connection.writeHeld(chunk.bytes)
                    released += 1
                }
                guard released > 0 else { continue }
                output.chunks.removeFirst(released)
                output.connection.flushIfNeeded()
                if output.chunks.isEmpty {
                    held[key] = nil
                    if output.closeAfterRelease { output.connection.shutOutput() }
                } else {
                    held[key] = output
                }
            }
        }
        if !durableWaiters.isEmpty {
            let ready = durableWaiters.filter { isDurable($0.after) }
            durableWaiters.removeAll { isDurable($0.after) }
            for waiter in ready { waiter.promise.succeed() }
        }
        if !hasPending {
            let waiters = drainWaiters
            drainWaiters.removeAll()
            for waiter in waiters { waiter.succeed() }
        }
    }
}
