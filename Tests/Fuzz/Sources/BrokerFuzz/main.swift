import Foundation
import MQTTBrokerFuzzing

// libFuzzer entry point of the stateful broker fuzzer (`make fuzz-broker`): each input is a
// sequence of client operations against a fresh in-process broker (Sources/MQTTBrokerFuzzing,
// BrokerFuzzScript for the format). An invariant the broker breaks stops the run with its
// message; libFuzzer keeps the input in fuzz-artifacts/. Replay one with the operations
// printed: `BROKER_FUZZ_TRACE=1 .build-fuzz/release/BrokerFuzz fuzz-artifacts/crash-...`.

// BROKER_FUZZ_KNOWN=a,b skips the checks of findings already reported (BrokerFuzzer.KnownIssue).
let environment = ProcessInfo.processInfo.environment
let known = Set((environment["BROKER_FUZZ_KNOWN"] ?? "").split(separator: ",").compactMap { BrokerFuzzer.KnownIssue(rawValue: String($0)) })
let fuzzer = BrokerFuzzer(options: .init(trace: environment["BROKER_FUZZ_TRACE"] == "1", knownIssues: known))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    do {
        try fuzzer.run(bytes)
    } catch {
        fatalError("\(error)")
    }
    return 0
}
