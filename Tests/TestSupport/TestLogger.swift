import Foundation
import Logging

/// A logger for a test target's brokers and clients: silent unless `JUNCTION_TEST_LOG` is set
/// to a level (trace, debug, info...), then to standard error at that level.
public func makeTestLogger(label: String) -> Logger {
    guard let level = ProcessInfo.processInfo.environment["JUNCTION_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) else {
        return Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
    }
    var logger = Logger(label: label, factory: { label in StreamLogHandler.standardError(label: label) })
    logger.logLevel = level
    return logger
}
