import DequeModule
import Logging
import MQTTCore
import NIOCore
import NIOPosix

/// The loop side of persistence: state changes of persistent sessions and retained messages are
/// collected here as ``StoreOperation``s, without I/O, and committed in groups by one writer
/// thread. Output that must not reach a client before its cause is durable (PUBACK, PUBREC,
/// PUBREL, PUBCOMP, SUBACK, QoS 2 PUBLISH...) is held per connection, in order, and written once
/// everything recorded before it is durable or cancelled out (see `BrokerJournal+Holding.swift`).
///
/// Groups: everything recorded while a commit is being written goes into the next transaction
/// (group commit). A delivery inserted and acknowledged before its group is submitted is never
/// written, and the output held behind it goes when it is acknowledged. With `batch` and `off`,
/// while deliveries turn out short-lived (acknowledged within ``groupHold``), the open group is
/// submitted only once its oldest change still to write is ``groupHold`` (`durabilityMaxWait`)
/// old: in a flow where subscribers keep up, nothing is written at all; otherwise
/// an idle writer takes a group at once, so a lone publisher is not delayed for nothing. With
/// `sync`, every unit of work (a read batch, a timer, an in-process call) is its own transaction.
/// Loop-bound.
final class BrokerJournal {
    let store: BrokerStore
    private let pool: NIOThreadPool
    let loop: EventLoop
    private let logger: Logger
    unowned(unsafe) var state: BrokerState!

    /// The open group: its operations from the first that did not cancel out (nil where an insert
    /// and its delete cancelled out); `openBase` is the position of the first in the group.
    private var open = Deque<StoreOperation?>()
    /// Position in the open group of `open.first`: everything before it cancelled out.
    private(set) var openBase = 0
    private(set) var liveCount = 0
    /// Position in the open group at which it first touched a session row (written at commit).
    private(set) var touchedAt: Int?
    /// Deliveries inserted in the open group: id → position, so later changes fold in.
    private var openInserts: [Int64: Int] = [:]
    /// Sessions whose row must be written with the open group (their fields as of the commit).
    private(set) var touched: [ObjectIdentifier: Session] = [:]
    private(set) var openID: UInt64 = 1
    /// Groups handed to the writer and not completed yet.
    private(set) var committing = 0
    /// Every group up to this one is committed (or had nothing to write).
    private(set) var durableUpTo: UInt64 = 0
    private var nextDeliveryID: Int64
    var held: [ObjectIdentifier: HeldOutput] = [:]
    var durableWaiters: [(after: Mark, promise: EventLoopPromise<Void>)] = []
    var drainWaiters: [EventLoopPromise<Void>] = []
    /// A log fsync is scheduled or under way.
    private var syncScheduled = false
    /// `batch`: the first commit since the last log fsync started.
    private var firstUnsyncedCommit: NIODeadline?
    /// When the units of work of the open group recorded: (position of their first operation,
    /// end of the unit), from the one holding `openBase` on; the first tells the age of the
    /// oldest change still to write.
    private var unitTimes = Deque<(position: Int, at: NIODeadline)>()
    /// Where the last unit of work ended in the open group.
    private var lastUnitEnd = 0
    /// When the open group first touched a session row.
    private var touchedSince: NIODeadline?
    private var holdScheduled = false
    /// Output is held that a client waits for outside a message stream (CONNACK, SUBACK,
    /// UNSUBACK): the open group goes to the writer at the end of this unit of work, not when due.
    var submitSoon = false
    /// Deliveries inserted and deleted within the open group (never written).
    private var cancelledInOpen = 0
    /// The front of the open group moved in this unit of work: held output may be free to go.
    private var frontAdvanced = false
    /// Whether groups are held (see the type's documentation): on while the last submitted group
    /// had deliveries cancel out or deleted ones that lived less than ``groupHold``.
    private var holding = false
    /// When recent groups opened and the first delivery id each could insert, to tell a
    /// deleted delivery's age. None older than ``groupHold``.
    private var groupStarts = Deque<(firstID: Int64, at: NIODeadline)>()
    /// Deliveries deleted in the open group that were inserted less than ``groupHold`` before.
    private var shortLived = 0
    /// Set when the broker shut down and the store closed: nothing is recorded any more.
    private(set) var isClosed = false
    /// Changes recorded since the broker started: a caller compares it before and after its work
    /// to learn whether that work recorded anything it must wait for.
    private(set) var changeCount = 0
    /// Deliveries written to the store, and acknowledged before they were (see ``BrokerStatisticsSnapshot``).
    private(set) var deliveriesStored = 0
    private(set) var deliveriesSkipped = 0

    init(store: BrokerStore, pool: NIOThreadPool, loop: EventLoop, logger: Logger, nextDeliveryID: Int64) {
        self.store = store
        self.pool = pool
        self.loop = loop
        self.logger = logger
        self.nextDeliveryID = nextDeliveryID
    }

    var mode: BrokerDurability { state.settings.durability }

    /// How long a change may wait in the open group while deliveries are short-lived, so that
    /// those acknowledged quickly cancel out in memory: `durabilityMaxWait`.
    private var groupHold: TimeAmount { state.settings.durabilityMaxWait }

    /// Whether some state change is not durable yet.
    var hasPending: Bool { liveCount > 0 || !touched.isEmpty || committing > 0 }

    /// The position after the last operation of the open group.
    var openEnd: Int { openBase + open.count }

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
        if touchedAt == nil { touchedAt = openEnd }
        touched[ObjectIdentifier(session)] = session
        changeCount += 1
    }

    func newDeliveryID() -> Int64 {
        nextDeliveryID += 1
        return nextDeliveryID
    }

    func insertDelivery(_ delivery: StoredDelivery) {
        guard !isClosed else { return }
        openInserts[delivery.id] = openEnd
        record(.insertDelivery(delivery))
    }

    func updateDelivery(id: Int64, packetID: UInt16?, awaitingComplete: Bool) {
        if let position = openInserts[id], case .insertDelivery(var stored)? = open[position - openBase] {
            stored.packetID = packetID
            stored.awaitingComplete = awaitingComplete
            open[position - openBase] = .insertDelivery(stored)
            changeCount += 1
            return
        }
        record(.updateDelivery(id: id, packetID: packetID, awaitingComplete: awaitingComplete))
    }

    /// A delivery inserted in the open group and done before it is submitted costs no write at all.
    /// `couldCancel`: its delivery did not wait for the commit (so holding groups would have let it
    /// cancel out; a QoS 2 PUBLISH to a network client waits).
    func deleteDelivery(id: Int64, couldCancel: Bool = true) {
        if let position = openInserts.removeValue(forKey: id) {
            open[position - openBase] = nil
            liveCount -= 1
            cancelledInOpen += 1
            deliveriesSkipped += 1
            if position == openBase {
                // The front cancelled out: drop it and what cancelled behind it.
                while let first = open.first, first == nil {
                    open.removeFirst()
                    openBase += 1
                }
                while unitTimes.count > 1 && unitTimes[unitTimes.startIndex + 1].position <= openBase { unitTimes.removeFirst() }
                frontAdvanced = true
            }
            return
        }
        if couldCancel && wasShortLived(id) { shortLived += 1 }
        record(.deleteDelivery(id))
    }

    /// Whether delivery `id` was inserted less than ``groupHold`` ago.
    private func wasShortLived(_ id: Int64) -> Bool {
        guard let first = groupStarts.first, id >= first.firstID else { return false }
        let now = NIODeadline.now()
        for start in groupStarts.reversed() where start.firstID <= id { return now - start.at < groupHold }
        return false
    }

    // MARK: Committing

    /// End of a unit of work (read batch, timer, in-process call): let held output go that no
    /// longer waits for anything, and hand the open group to the writer when it is free and the
    /// group is due (`sync`: always at once; `force`: at once when the writer is free).
    func endOfWork(force: Bool = false) {
        guard liveCount > 0 || !touched.isEmpty else {
            // Whatever the open group held cancelled out: it ends empty, and output held behind
            // it waits only for the groups being committed.
            if openEnd > 0 {
                holding = holding || cancelledInOpen > 0 || shortLived > 0
                closeOpen()
                if committing == 0 { durableUpTo = openID - 1 }
                release()
            }
            return
        }
        let now = NIODeadline.now()
        if openEnd > lastUnitEnd {
            unitTimes.append((max(lastUnitEnd, openBase), now))
            lastUnitEnd = openEnd
            while unitTimes.count > 1 && unitTimes[unitTimes.startIndex + 1].position <= openBase { unitTimes.removeFirst() }
        }
        if !touched.isEmpty && touchedSince == nil { touchedSince = now }
        if frontAdvanced {
            frontAdvanced = false
            if committing == 0 { release() }
        }
        if mode == .sync { return submitOpen() }
        guard committing == 0 else { return }
        // An in-process caller awaiting durability (the engine's sends) is not held back.
        if force || !holding || !durableWaiters.isEmpty || submitSoon { return submitOpen() }
        submitWhenDue()
    }

    /// When the open group is due: its oldest change still to write is ``groupHold`` old.
    private var due: NIODeadline? {
        let live = liveCount > 0 ? unitTimes.first?.at : nil
        switch (live, touchedSince) {
        case (let a?, let b?): return min(a, b) + groupHold
        case (let a?, nil), (nil, let a?): return a + groupHold
        case (nil, nil): return nil
        }
    }

    /// Submits the open group once due; until then a timer looks again.
    private func submitWhenDue() {
        guard holding && durableWaiters.isEmpty && !submitSoon, let due else { return submitOpen() }
        if NIODeadline.now() >= due { return submitOpen() }
        guard !holdScheduled else { return }
        holdScheduled = true
        loop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            holdScheduled = false
            guard !isClosed, committing == 0, liveCount > 0 || !touched.isEmpty else { return }
            submitWhenDue()
            state.flushPending()
        }
    }

    private func submitOpen() {
        for session in touched.values where state.sessions[session.clientID] === session && session.journal === self {
            record(.upsertSession(session.storedRecord))
        }
        touched.removeAll(keepingCapacity: true)
        let operations = open.compactMap { $0 }
        let group = openID
        holding = cancelledInOpen > 0 || shortLived > 0
        deliveriesStored += openInserts.count
        closeOpen()
        guard !operations.isEmpty else {
            if committing == 0 { durableUpTo = group }
            return release()
        }
        submit(operations, group: group)
    }

    /// Starts the next group (the open one was submitted or cancelled out entirely).
    private func closeOpen() {
        open.removeAll(keepingCapacity: true)
        openInserts.removeAll(keepingCapacity: true)
        unitTimes.removeAll(keepingCapacity: true)
        openBase = 0
        lastUnitEnd = 0
        liveCount = 0
        touchedAt = nil
        touchedSince = nil
        frontAdvanced = false
        cancelledInOpen = 0
        shortLived = 0
        submitSoon = false
        openID += 1
        let now = NIODeadline.now()
        while let first = groupStarts.first, now - first.at >= groupHold || groupStarts.count >= 64 { groupStarts.removeFirst() }
        groupStarts.append((nextDeliveryID + 1, now))
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
        // Groups commit in order; with none left committing, the groups that ended empty are done too.
        durableUpTo = committing == 0 ? openID - 1 : max(durableUpTo, group)
        release()
        if committing == 0 && (liveCount > 0 || !touched.isEmpty) && mode != .sync { submitWhenDue() }
        state.flushPending()
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
        closeOpen()
        touched.removeAll()
        durableUpTo = .max
        release()
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
