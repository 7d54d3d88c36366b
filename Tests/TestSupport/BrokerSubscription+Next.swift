import MQTTBroker

extension BrokerSubscription {
    /// The next delivery of the in-process subscription, failing after `timeout`.
    public func next(within timeout: Duration = .seconds(15)) async throws -> BrokerDelivery {
        guard let delivery = await withTimeout(timeout, { await self.first { _ in true } }) else {
            throw TestFailure("no delivery within \(timeout)")
        }
        return delivery
    }
}
