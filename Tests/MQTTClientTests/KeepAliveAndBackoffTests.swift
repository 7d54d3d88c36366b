@testable import MQTTClient
import NIOCore
import Testing

/// Keepalive, reconnect backoff and server addresses: pure values, no I/O.
@Suite("keepalive, backoff, servers")
struct KeepAliveAndBackoffTests {
    @Test("PINGREQ after the interval without sending; timeout when nothing comes back; PINGRESP clears it")
    func keepAlive() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var state = KeepAliveState(interval: .seconds(10), timeout: .seconds(3), now: start)
        #expect(state.check(now: start + .seconds(5)) == .wait(until: start + .seconds(10)))
        state.sent(at: start + .seconds(5))
        state.received(at: start + .seconds(5), isPingResponse: false)
        #expect(state.check(now: start + .seconds(10)) == .wait(until: start + .seconds(15)))
        #expect(state.check(now: start + .seconds(15)) == .sendPing(thenCheckAt: start + .seconds(18)))
        #expect(state.check(now: start + .seconds(17)) == .wait(until: start + .seconds(18)))
        state.received(at: start + .seconds(17), isPingResponse: true)
        #expect(state.check(now: start + .seconds(18)) == .wait(until: start + .seconds(25)))
        #expect(state.check(now: start + .seconds(25)) == .sendPing(thenCheckAt: start + .seconds(28)))
        #expect(state.check(now: start + .seconds(28)) == .timedOut)
    }

    @Test("a client that only sends still pings when nothing was received for the interval")
    func pingWhenSilent() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var state = KeepAliveState(interval: .seconds(10), timeout: .seconds(3), now: start)
        state.sent(at: start + .seconds(9))
        #expect(state.check(now: start + .seconds(10)) == .sendPing(thenCheckAt: start + .seconds(13)))
        // Traffic after the ping proves the connection alive even before the PINGRESP.
        state.received(at: start + .seconds(12), isPingResponse: false)
        #expect(state.check(now: start + .seconds(13)) == .wait(until: start + .seconds(15)))
        var disabled = KeepAliveState(interval: .zero, timeout: .seconds(1), now: start)
        #expect(disabled.check(now: start + .seconds(100)) == .disabled)
    }

    @Test("backoff doubles from the initial delay to the maximum; jitter takes up to its fraction off")
    func backoff() {
        let policy = MQTTReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), multiplier: 2, jitter: 0.5)
        var backoff = ReconnectBackoff(policy: policy)
        let delays = (0..<6).map { _ in backoff.nextDelay(random: 0) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        #expect(ReconnectBackoff.delay(policy: policy, failures: 1, random: 1) == .milliseconds(100))
        #expect(ReconnectBackoff.delay(policy: policy, failures: 10_000, random: 0.5) == .milliseconds(750))
        backoff.reset()
        #expect(backoff.nextDelay(random: 0) == .milliseconds(100))
    }

    @Test("server URLs", arguments: [
        ("mqtt://broker:1884", "broker", 1884), ("tcp://10.0.0.1", "10.0.0.1", 1883), ("localhost", "localhost", 1883),
        ("mqtt://[::1]:2000", "::1", 2000), ("h:1", "h", 1),
    ])
    func serverURLs(url: String, host: String, port: Int) throws {
        let server = try #require(MQTTServer(url: url))
        #expect(server.host == host && server.port == port)
    }

    @Test("invalid server URLs", arguments: ["http://x", "mqtt://", "mqtt://h:0", "mqtt://h:70000", "mqtt://h:x", "[::1"])
    func invalidServerURLs(url: String) {
        #expect(MQTTServer(url: url) == nil)
    }
}
