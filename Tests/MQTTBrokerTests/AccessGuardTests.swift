@testable import MQTTBroker
import NIOCore
import Testing

/// The per-address bookkeeping as values over a given clock: no sockets, no waiting.
@Suite("access guard")
struct AccessGuardTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    @Test("A token bucket allows its size at once, then refills at its rate")
    func tokenBucket() {
        let rate = BrokerRate(count: 3, per: .seconds(1))
        var bucket = TokenBucket(rate: rate, now: t0)
        var taken: [Bool] = []
        for _ in 0..<4 { taken.append(bucket.take(rate: rate, now: t0)) }
        #expect(taken == [true, true, true, false])
        let early = bucket.take(rate: rate, now: t0 + .milliseconds(300))
        let refilled = bucket.take(rate: rate, now: t0 + .milliseconds(340))
        let later = bucket.take(rate: rate, now: t0 + .seconds(10))
        #expect(!early && refilled && later && bucket.tokens <= 2)
    }

    @Test("After maxAuthFailures the address is refused for authFailureBlock, doubling per further failure up to 64×; success resets")
    func refusalWindow() {
        var settings = BrokerSettings()
        settings.maxAuthFailures = 2
        settings.authFailureBlock = .seconds(10)
        let guardian = AccessGuard()
        let a = "10.0.0.1"
        guardian.failed(a, settings: settings, now: t0)
        #expect(guardian.admit(a, settings: settings, now: t0) == nil)
        guardian.failed(a, settings: settings, now: t0)
        #expect(guardian.admit(a, settings: settings, now: t0) == .blocked(seconds: 10))
        #expect(guardian.admit(a, settings: settings, now: t0 + .seconds(10)) == nil)
        #expect(guardian.admit("10.0.0.2", settings: settings, now: t0) == nil)
        guardian.failed(a, settings: settings, now: t0 + .seconds(10))
        #expect(guardian.admit(a, settings: settings, now: t0 + .seconds(10)) == .blocked(seconds: 20))
        for _ in 0..<20 { guardian.failed(a, settings: settings, now: t0) }
        #expect(guardian.admit(a, settings: settings, now: t0) == .blocked(seconds: 640))
        guardian.succeeded(a)
        #expect(guardian.admit(a, settings: settings, now: t0) == nil)
    }

    @Test("Password checks in progress are capped per address and in all")
    func verificationCaps() {
        let guardian = AccessGuard()
        for _ in 0..<AccessGuard.verificationsPerAddress { #expect(guardian.beginVerification("a") == nil) }
        #expect(guardian.beginVerification("a") == .tooManyVerifications)
        guardian.endVerification("a")
        #expect(guardian.beginVerification("a") == nil)
        for index in 0..<(AccessGuard.verificationsTotal - AccessGuard.verificationsPerAddress) {
            #expect(guardian.beginVerification("b\(index)") == nil)
        }
        #expect(guardian.beginVerification("c") == .busy)
    }

    @Test("Loopback is decided from the configured host")
    func loopback() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] { #expect(BrokerListener(host: host).isLoopback, "\(host)") }
        for host in ["0.0.0.0", "::", "192.168.1.5", "example.com"] { #expect(!BrokerListener(host: host).isLoopback, "\(host)") }
        var listener = BrokerListener(host: "0.0.0.0")
        #expect(!listener.anonymousAllowed)
        listener.allowAnonymous = true
        #expect(listener.anonymousAllowed)
    }
}
