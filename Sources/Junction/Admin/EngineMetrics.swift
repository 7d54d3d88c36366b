import Foundation
import MQTTBroker
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics (swift-prometheus): documents per process and tracking
/// event, and the broker's counters sampled at scrape time.
public final class EngineMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let counters = Mutex(Counters())
    /// The broker's totals as of the last scrape, by metric name.
    private let brokerTotals = Mutex<[String: Int]>([:])

    /// Every counter made, and those of the process counted last (a process's events come in
    /// runs: most lookups compare one string and scan eight kinds, without hashing).
    private struct Counters {
        var all: [CounterKey: Counter] = [:]
        var lastProcess: String?
        var last: [(TrackingEvent.Kind, Counter)] = []
    }

    private struct CounterKey: Hashable {
        var process: String
        var event: TrackingEvent.Kind
    }

    public init() {}

    /// Counts one tracking event.
    func record(_ event: TrackingEvent) {
        let counter = counters.withLock { counters in
            if counters.lastProcess == event.process, let counter = counters.last.first(where: { $0.0 == event.event })?.1 { return counter }
            if counters.lastProcess != event.process {
                counters.lastProcess = event.process
                counters.last = []
            }
            let key = CounterKey(process: event.process, event: event.event)
            let counter = counters.all[key] ?? registry.makeCounter(
                descriptor: MetricNameDescriptor(namespace: "junction", metricName: "documents", unitName: "total",
                                                 helpText: "Tracking events per process and kind"),
                labels: [("process", event.process), ("event", event.event.rawValue)])
            counters.all[key] = counter
            counters.last.append((event.event, counter))
            return counter
        }
        counter.increment()
    }

    /// The exposition text, with the broker's counters as of now.
    public func render(broker: MQTTBroker?) async -> String {
        if let broker, let stats = try? await broker.statistics() {
            let gauges: [(String, Int, String)] = [
                ("connections", stats.connections, "Open client connections"),
                ("sessions", stats.sessions, "Sessions, connected or not"),
                ("subscriptions", stats.subscriptions, "Subscriptions"),
                ("retained_messages", stats.retained, "Retained messages"),
                ("messages_inflight", stats.inflight, "QoS 1/2 messages sent and not acknowledged"),
                ("messages_queued", stats.queued, "Messages waiting in session queues"),
            ]
            for (name, value, help) in gauges {
                registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "junction", subsystem: "broker", metricName: name,
                                                                   unitName: "count", helpText: help)).set(Double(value))
            }
            let totals: [(String, Int, String)] = [
                ("messages_received", stats.messagesReceived, "Messages published to the broker"),
                ("messages_sent", stats.messagesSent, "Messages delivered by the broker"),
                ("messages_dropped", stats.messagesDropped, "Messages dropped (queue full, too large)"),
                ("deliveries_stored", stats.deliveriesStored, "QoS 1/2 deliveries to persistent sessions written to the store"),
                ("deliveries_skipped", stats.deliveriesSkipped,
                 "QoS 1/2 deliveries to persistent sessions acknowledged before they were written"),
                ("topic_levels_refused", stats.topicLevelsRefused,
                 "Topic names and filters refused for having more than maxTopicLevels levels"),
            ]
            // Counters, as Prometheus expects of totals: each scrape adds what the broker counted
            // since the last one (all of it when the broker's count went back, after a restart).
            brokerTotals.withLock { last in
                for (name, value, help) in totals {
                    let previous = last[name] ?? 0
                    last[name] = value
                    registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "junction", subsystem: "broker", metricName: name,
                                                                         unitName: "total", helpText: help))
                        .increment(by: Int64(value >= previous ? value - previous : value))
                }
            }
        }
        return registry.emitToString()
    }
}
