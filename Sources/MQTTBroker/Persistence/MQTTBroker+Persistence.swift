import Foundation
import Logging
import NIOCore
import NIOPosix

extension MQTTBroker {
    /// The store file inside the data directory.
    public static let storeFileName = "broker.sqlite"

    /// Opens `<data>/broker.sqlite` (creating the directory and file when missing), drops what
    /// expired while the broker was down, and restores the rest before any listener accepts.
    /// Throws ``BrokerStoreError`` for a file that is not a store this version can use.
    func openStore() async throws {
        guard let dataDirectory else { return }
        let path = dataDirectory.appendingPathComponent(Self.storeFileName).path
        do {
            try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        } catch {
            let refusal = BrokerStoreError(path: path, reason: "its directory cannot be created: \(error.localizedDescription)")
            restored.fail(refusal)
            throw refusal
        }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let opened: (BrokerStore, StoreSnapshot)
        do {
            opened = try await pool.runIfActive {
                let store = try BrokerStore(path: path)
                do {
                    return (store, try store.load(now: WallClock.currentMilliseconds()))
                } catch {
                    store.close()
                    throw BrokerStoreError(path: path, reason: "cannot be read: \(error)")
                }
            }
        } catch {
            try? await pool.shutdownGracefully()
            restored.fail(error)
            throw error
        }
        let (store, snapshot) = opened
        storeWriter.withLockedValue { $0 = pool }
        let state = self.state
        let (loop, logger) = (self.loop, self.logger)
        try await loop.submit {
            let journal = BrokerJournal(store: store, pool: pool, loop: loop, logger: logger, nextDeliveryID: snapshot.maxDeliveryID)
            state.value.restore(snapshot, journal: journal)
        }.get()
        restored.succeed()
        let durability = try await currentSettings().durability
        logger.info("broker state restored", metadata: [
            "store.path": "\(path)", "store.durability": "\(durability)",
            "store.sessions": "\(snapshot.sessions.count)", "store.messages": "\(snapshot.deliveries.count)",
            "store.retained": "\(snapshot.retained.count)", "store.expired_sessions": "\(snapshot.expiredSessions)",
            "store.expired_messages": "\(snapshot.expiredMessages)",
        ])
    }

    /// Commits what is still pending, then closes the store and its writer thread.
    func closeStore() async throws {
        guard let pool = storeWriter.withLockedValue({ pool in defer { pool = nil }; return pool }) else { return }
        let state = self.state
        let store = try await loop.flatSubmit { () -> EventLoopFuture<BrokerStore?> in
            guard let journal = state.value.journal else { return state.value.loop.makeSucceededFuture(nil) }
            let store = journal.store
            return journal.drain().map { store }
        }.get()
        try await loop.submit {
            state.value.journal?.close()
            state.value.journal = nil
        }.get()
        if let store { _ = try? await pool.runIfActive { store.close() } }
        try? await pool.shutdownGracefully()
    }
}
