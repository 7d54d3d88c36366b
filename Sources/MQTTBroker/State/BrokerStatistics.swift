/// Counters behind `$SYS/broker/...` and the metrics endpoint.
struct BrokerStatistics {
    var messagesReceived = 0
    var messagesSent = 0
    var messagesDropped = 0
    var connectionsTotal = 0
    /// Topic names and filters refused for having more than `maxTopicLevels` levels.
    var topicLevelsRefused = 0
}
