extension ProcessDefinition {
    /// Every connector the process names: its Listen, its sends (in routes too), its dead letter.
    var connectorNames: Set<String> {
        var names: Set<String> = [listen.connector]
        names.formUnion(sendConnectors)
        if let dead = onError.deadLetter { names.insert(dead.connector) }
        return names
    }

    /// Whether the process sends (or dead-letters) to `connector`.
    func sendsTo(_ connector: String) -> Bool {
        sendConnectors.contains(connector) || onError.deadLetter?.connector == connector
    }

    private var sendConnectors: Set<String> {
        var names: Set<String> = []
        func walk(_ steps: [StepDefinition]) {
            for step in steps {
                switch step {
                case .send(let send): names.insert(send.connector)
                case .route(let cases, let otherwise):
                    for (_, nested) in cases { walk(nested) }
                    walk(otherwise)
                default: break
                }
            }
        }
        walk(steps)
        return names
    }
}
