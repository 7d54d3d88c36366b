import MQTTCore

// What the decoder promises about every packet it returns, checked independently of it: the
// round trip in main.swift cannot see a validation the decoder skipped (a U+0000 or a wildcard
// let through survives encoding unchanged).

/// `precondition` that keeps its message in a release build (`-O` drops a precondition's message),
/// so that a crash says what broke.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

private func hasNull(_ string: String) -> Bool { string.utf8.contains(0) }
private func hasWildcard(_ string: String) -> Bool { string.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") } }

private func checkText(_ string: String, _ what: @autoclosure () -> String) {
    require(!hasNull(string), "decoded \(what()) contains U+0000: \(string.debugDescription)")
}

private func checkTopicName(_ topic: String, _ what: String) {
    checkText(topic, what)
    require(!topic.isEmpty && !hasWildcard(topic), "decoded \(what) is not a topic name: \(topic.debugDescription)")
}

private func checkProperties(_ properties: MQTTProperties, version: MQTTProtocolVersion) {
    if version == .v311 { require(properties.isEmpty, "properties decoded on 3.1.1") }
    for property in properties {
        switch property {
        case .contentType(let s), .assignedClientIdentifier(let s), .authenticationMethod(let s),
            .responseInformation(let s), .serverReference(let s), .reasonString(let s):
            checkText(s, "\(property.identifier)")
        case .responseTopic(let s): checkTopicName(s, "response topic")
        case .userProperty(let name, let value):
            checkText(name, "user property name")
            checkText(value, "user property value")
        case .subscriptionIdentifier(let v): require(v >= 1 && v <= 268_435_455, "subscription identifier \(v)")
        case .topicAlias(let v), .receiveMaximum(let v): require(v != 0, "\(property.identifier) 0")
        default: break
        }
    }
}

/// Fails when `packet`, decoded on a connection of `version`, breaks a rule the decoder enforces.
func checkInvariants(_ packet: MQTTPacket, version: MQTTProtocolVersion) {
    switch packet {
    case .connect(let p):
        checkText(p.clientIdentifier, "client identifier")
        if let username = p.username { checkText(username, "user name") }
        if let will = p.will {
            checkTopicName(will.topic, "will topic")
            checkProperties(will.properties, version: p.protocolVersion)
        }
        if p.protocolVersion == .v311 { require(p.password == nil || p.username != nil, "3.1.1 password without user name") }
        checkProperties(p.properties, version: p.protocolVersion)
    case .publish(let p):
        checkText(p.topic, "topic name")
        require(!hasWildcard(p.topic), "decoded topic name with a wildcard: \(p.topic.debugDescription)")
        if p.topic.isEmpty { require(version == .v5 && p.properties.topicAlias != nil, "empty topic without alias") }
        require((p.qos == .atMostOnce) == (p.packetIdentifier == nil), "packet identifier presence vs QoS \(p.qos)")
        require(p.packetIdentifier != 0, "PUBLISH packet identifier 0")
        require(!(p.dup && p.qos == .atMostOnce), "DUP on QoS 0")
        checkProperties(p.properties, version: version)
    case .subscribe(let p):
        require(p.packetIdentifier != 0 && !p.subscriptions.isEmpty, "SUBSCRIBE without identifier or filters")
        for subscription in p.subscriptions { checkText(subscription.topicFilter, "topic filter") }
        checkProperties(p.properties, version: version)
    case .unsubscribe(let p):
        require(p.packetIdentifier != 0 && !p.topicFilters.isEmpty, "UNSUBSCRIBE without identifier or filters")
        for filter in p.topicFilters { checkText(filter, "topic filter") }
        checkProperties(p.properties, version: version)
    case .puback(let p), .pubrec(let p), .pubrel(let p), .pubcomp(let p):
        require(p.packetIdentifier != 0, "acknowledgement with packet identifier 0")
        checkProperties(p.properties, version: version)
    case .suback(let p), .unsuback(let p):
        require(p.packetIdentifier != 0, "SUBACK/UNSUBACK with packet identifier 0")
        checkProperties(p.properties, version: version)
    case .connack(let p): checkProperties(p.properties, version: version)
    case .disconnect(let p): checkProperties(p.properties, version: version)
    case .auth(let p):
        require(version == .v5, "AUTH decoded on 3.1.1")
        checkProperties(p.properties, version: version)
    case .pingreq, .pingresp: break
    }
}
