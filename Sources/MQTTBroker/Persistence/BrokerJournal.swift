import Logging
import MQTTCore
import NIOCore
import NIOPosix

/// The loop side of persistence: state changes of persistent sessions and retained messages are
/// collected here as ``StoreOperation``s, without I/O, and committed in groups by one writer
/// thread. Output that must not reach a client before its cause is durable (PUBACK, PUBREC,
/// PUBREL, PUBCOMP, SUBACK, QoS 2 PUBLISH...) is held per connection, in order, and written when
/// its group committed.
///
/// Groups: with `batch` and `off`, a group collects for ``groupHold`` (at most `durabilityMaxWait`)
/// from its first change, and everything that arrived while a commit was being written goes into
/// the next transaction (group commit); a delivery inserted and acknowledged within a group is
/// never written. With `sync`, every unit of work (a read batch, a timer, an in-process call) is
/// its own transaction. Loop-bound.
final class BrokerJournal {
    let store: BrokerStore
    private let pool: NIOThreadPool
    private let loop: EventLoop
    private let logger: Logger
    unowned(unsafe) var state: BrokerState!

    /// The group being collected: operations (nil where an insert and its delete cancelled out).
    private var open: [StoreOperation?] = []
    private var liveCount = 0
    /// Deliveries inserted in the open group: id → index in `open`, so later changes fold in.
    private var openInserts: [Int64: Int] = [:]
    /// Sessions whose row must be written with the open group (their fields as of the commit).
    private var touched: [ObjectIdentifier: Session] = [:]
    private var openID: UInt64 = 1
    /// Groups handed to the writer and not completed yet.
    private var committing = 0
    private var nextDeliveryID: Int64
    private var held: [ObjectIdentifier: HeldOutput] = [:]
    private var durableWaiters: [(group: UInt64, promise: EventLoopPromise<Void>)] = []
    private var drainWaiters: [EventLoopPromise<Void>] = []
    /// A log fsync is scheduled or under way.
    private var syncScheduled = false
    /// `batch`: the first commit since the last log fsync started.
    private var firstUnsyncedCommit: NIODeadline?
    /// When the open group got its first change (at the end of that unit of work); nil while empty.
    private var openSince: NIODeadline?
    private var holdScheduled = false
    /// Deliveries inserted and deleted within the open group (never written).
    private var cancelledInOpen = 0
    /// Whether groups are held for ``groupHold``: on while holding pays, that is while the last
    /// submitted group had deliveries cancel out; off, an idle writer takes a group at once, so
    /// a lone publisher's acknowledgement is not delayed for nothing.
    private var holding = false
    /// Set when the broker shut down and the store closed: nothing is recorded any more.
    private(set) var isClosed = false
    /// Changes recorded since the broker started: a caller compares it before and after its work
    /// to learn whether that work recorded anything it must wait for.
    private(set) var changeCount = 0

    private struct HeldOutput {
        var connection: BrokerConnection
        var chunks: [(group: UInt64, bytes: ByteBuffer)]
        var closeAfterRelease = false
    }

    init(store: BrokerStore, pool: NIOThreadPool, loop: EventLoop, logger: Logger, nextDeliveryID: Int64) {
        self.store = store
        self.pool = pool
        self.loop = loop
        self.logger = logger
        self.nextDeliveryID = nextDeliveryID
    }

    private var mode: BrokerDurability { state.settings.durability }

    /// How long an idle writer lets a group collect before committing it (`batch` and `off`), so
    /// that in a flow where subscribers acknowledge quickly most deliveries are inserted and
    /// deleted within one group and cancel out in memory. Bounded by `durabilityMaxWait`.
    static let groupHold: TimeAmount = .microseconds(1_000)

    private var hold: TimeAmount { min(Self.groupHold, state.settings.durabilityMaxWait) }

    /// Whether some state change is not durable yet.
    var hasPending: Bool { liveCount > 0 || !touched.isEmpty || committing > 0 }

    // MARK: Recording

    func record(_ operation: StoreOperation) {
        guard !isClosed else { return }
        open.append(operation)
        liveCount += 1
        changeCount += 1
    }

    /// The session's row (expiry, user name, disconnection time) is written with this group.
    func touch(_ session: Session) {
        guard !isClosed else { return }
        touched[ObjectIdentifier(session)] = session
        changeCount += 1
    }

    func newDeliveryID() -> Int64 {
        nextDeliveryID += 1
        return nextDeliveryID
    }

    func insertDelivery(_ delivery: StoredDelivery) {
        guard !isClosed else { return }
        openInserts[delivery.id] = open.count
        record(.insertDelivery(delivery))
    }

    func updateDelivery(id: Int64, packetID: UInt16?, awaitingComplete: Bool) {
        if let index = openInserts[id], case .insertDelivery(var stored)? = open[index] {
            stored.packetID = packetID
            stored.awaitingComplete = awaitingComplete
            open[index] = .insertDelivery(stored)
            changeCount += 1
            return
        }
        record(.updateDelivery(id: id, packetID: packetID, awaitingComplete: awaitingComplete))
    }

    /// A delivery inserted in the open group and done before it commits costs no write at all.
    func deleteDelivery(id: Int64) {
        if let index = openInserts.removeValue(forKey: id) {
            open[index] = nil
            liveCount -= 1
            cancelledInOpen += 1
            return
        }
        record(.deleteDelivery(id))
    }

    // MARK: Holding output

    /// Whether `packet` for `connection` must wait for the open group's commit.
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

    func hold(_ bytes: ByteBuffer, for connection: BrokerConnection) {
        held[ObjectIdentifier(connection), default: HeldOutput(connection: connection, chunks: [])].chunks.append((openID, bytes))
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

    /// Succeeds once everything recorded so far is durable (at once with `off`).
    func whenDurable() -> EventLoopFuture<Void> {
        guard mode != .off, hasPending else { return loop.makeSucceededVoidFuture() }
        let promise = loop.makePromise(of: Void.self)
        durableWaiters.append((openID, promise))
        return promise.futureResult
    }

    // MARK: Committing

    /// End of a unit of work (read batch, timer, in-process call): hand the open group to the
    /// writer when it is free and the group has collected for ``groupHold`` (`sync`: always at
    /// once; `force`: at once when the writer is free).
    func endOfWork(force: Bool = false) {
        guard liveCount > 0 || !touched.isEmpty else {
            // Whatever the open group held cancelled out: output held behind it can go.
            if !open.isEmpty {
                open.removeAll(keepingCapacity: true)
                openSince = nil
                holding = holding || cancelledInOpen > 0
                cancelledInOpen = 0
                if committing == 0 { release(upTo: openID) }
            }
            return
        }
        if mode == .sync { return submitOpen() }
        // The group's age counts from here, also while the writer is busy with the previous one.
        if openSince == nil { openSince = .now() }
        guard committing == 0 else { return }
        // An in-process caller awaiting durability (the engine's sends) is not held back.
        if force || !holding || !durableWaiters.isEmpty { return submitOpen() }
        submitAfterHold()
    }

    /// Submits the open group once it is ``groupHold`` old; until then a timer waits for it.
    private func submitAfterHold() {
        guard holding && durableWaiters.isEmpty else { return submitOpen() }
        let now = NIODeadline.now()
        let since = openSince ?? now
        openSince = since
        let due = since + hold
        if now >= due { return submitOpen() }
        guard !holdScheduled else { return }
        holdScheduled = true
        loop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            holdScheduled = false
            guard !isClosed else { return }
            endOfWork(force: true)
        }
    }

    private func submitOpen() {
        for session in touched.values where state.sessions[session.clientID] === session && session.journal === self {
            record(.upsertSession(session.storedRecord))
        }
        touched.removeAll(keepingCapacity: true)
        let operations = open.compactMap { $0 }
        let group = openID
        open.removeAll(keepingCapacity: true)
        openInserts.removeAll(keepingCapacity: true)
        liveCount = 0
        openSince = nil
        holding = cancelledInOpen > 0
        cancelledInOpen = 0
        openID += 1
        guard !operations.isEmpty else { return release(upTo: committing == 0 ? openID : group - 1) }
        submit(operations, group: group)
    }

    private func submit(_ operations: [StoreOperation], group: UInt64) {
        committing += 1
        let store = self.store
        let fullSync = mode == .sync
        pool.runIfActive(eventLoop: loop) {
            try store.apply(operations, fullSync: fullSync)
        }.hop(to: loop).assumeIsolated().whenComplete { [self] result in
            committing -= 1
            switch result {
            case .success:
                completed(group)
            case .failure(let error):
                logger.error("broker store write failed, retrying in 1 s; acknowledgements wait", metadata: [
                    "store.path": "\(store.path)", "error": "\(error)", "store.operations": "\(operations.count)",
                ])
                guard !isClosed else { return }
                committing += 1
                loop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in
                    committing -= 1
                    submit(operations, group: group)
                }
            }
        }
    }

    private func completed(_ group: UInt64) {
        if mode == .batch { scheduleLogSync() }
        if committing == 0 && (liveCount > 0 || !touched.isEmpty) && mode != .sync {
            release(upTo: group)
            submitAfterHold()
        } else if committing == 0 && liveCount == 0 && touched.isEmpty {
            // Everything recorded is durable, including output held behind groups that ended up empty.
            release(upTo: openID)
        } else {
            release(upTo: group)
        }
        state.flushPending()
    }

    /// Writes and flushes held output of groups up to `group`, and resolves their waiters.
    private func release(upTo group: UInt64) {
        if !held.isEmpty {
            for (key, var output) in held {
                var released = 0
                for chunk in output.chunks {
                    guard chunk.group <= group else { break }
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
            let ready = durableWaiters.filter { $0.group <= group }
            durableWaiters.removeAll { $0.group <= group }
            for waiter in ready { waiter.promise.succeed() }
        }
        if !hasPending {
            let waiters = drainWaiters
            drainWaiters.removeAll()
            for waiter in waiters { waiter.succeed() }
        }
    }

    /// `batch`: the log is fsynced at most `durabilityMaxWait` after a commit (later only when
    /// the previous fsync is still under way: one at a time, on the store's log-sync thread).
    private func scheduleLogSync() {
        if firstUnsyncedCommit == nil { firstUnsyncedCommit = .now() }
        guard !syncScheduled, let since = firstUnsyncedCommit else { return }
        syncScheduled = true
        let store = self.store
        loop.assumeIsolated().scheduleTask(deadline: since + state.settings.durabilityMaxWait) { [self] in
            // Commits completed up to here are in the log before the fsync starts.
            firstUnsyncedCommit = nil
            store.syncLog(on: loop).hop(to: loop).assumeIsolated().whenComplete { [self] _ in
                syncScheduled = false
                if firstUnsyncedCommit != nil && !isClosed { scheduleLogSync() }
            }
        }
    }

    /// After the shutdown's last commit: stop recording, and let held output go.
    func close() {
        isClosed = true
        open.removeAll()
        touched.removeAll()
        liveCount = 0
        release(upTo: .max)
    }

    /// Commits what is left; succeeds when nothing is pending (shutdown).
    func drain() -> EventLoopFuture<Void> {
        endOfWork(force: true)
        guard hasPending else { return loop.makeSucceededVoidFuture() }
        let promise = loop.makePromise(of: Void.self)
        drainWaiters.append(promise)
        return promise.futureResult
    }
}
