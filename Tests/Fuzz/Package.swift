// swift-tools-version:6.1
import PackageDescription

// libFuzzer target over the MQTT packet decoder (MQTTCore). Kept out of the root package so that
// its sanitizer build never touches the normal one. Built and run by `make fuzz` at the top:
//   swift build -c release --package-path Tests/Fuzz --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address
let package = Package(
    name: "MQTTDecoderFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Junction", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "MQTTDecoderFuzz",
            dependencies: [
                .product(name: "MQTTCore", package: "Junction"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The stateful broker fuzzer (`make fuzz-broker`): operations of several clients against
        // the real broker in-process, invariants checked after each step (Sources/MQTTBrokerFuzzing).
        .executableTarget(
            name: "BrokerFuzz",
            dependencies: [.product(name: "MQTTBrokerFuzzing", package: "Junction")]
        ),
    ]
)
