// Every file of the target sees the helpers shared by all test targets (waitUntil, poll,
// withTimeout, within, unique, installedTool, the child-process and Mosquitto launchers).
@_exported import TestSupport
