/// The Python side of the paho-mqtt interop test, written to a temporary file and run as
/// `python3 script.py PORT VERSION(311|5) PREFIX`. Prints "OK" and exits 0 when every check
/// passed, else prints "FAIL: ..." and exits 1. Bounded by its own 30 s watchdog.
enum PahoScript {
    static let source = #"""
import os
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PORT = int(sys.argv[1])
V5 = sys.argv[2] == "5"
PREFIX = sys.argv[3]
PROTOCOL = mqtt.MQTTv5 if V5 else mqtt.MQTTv311
TIMEOUT = 20


def fail(message):
    print("FAIL: " + message, flush=True)
    os._exit(1)


watchdog = threading.Timer(60, lambda: fail("watchdog: the script took more than 60 s"))
watchdog.daemon = True
watchdog.start()


class Client:
    def __init__(self, name):
        self.name = name
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.messages = []
        self.condition = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=PREFIX + "-" + name, protocol=PROTOCOL)
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", PORT, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            fail(name + ": no CONNACK")

    def on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            fail(self.name + ": CONNACK " + str(reason_code))
        self.connected.set()

    def on_subscribe(self, client, userdata, mid, reason_codes, properties):
        for code in reason_codes:
            if code.is_failure:
                fail(self.name + ": SUBACK " + str(code))
        self.subscribed.set()

    def on_message(self, client, userdata, message):
        with self.condition:
            self.messages.append(message)
            self.condition.notify_all()

    def subscribe(self, topic, qos):
        self.subscribed.clear()
        self.client.subscribe(topic, qos=qos)
        if not self.subscribed.wait(TIMEOUT):
            fail(self.name + ": no SUBACK for " + topic)

    def wait_for(self, count):
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.messages) >= count, TIMEOUT):
                fail("%s: %d of %d messages arrived" % (self.name, len(self.messages), count))
        return list(self.messages)

    def publish(self, topic, payload, qos, retain=False, properties=None):
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(TIMEOUT)
        if not info.is_published():
            fail(self.name + ": publish to " + topic + " not acknowledged")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


topic = PREFIX + "/data"
subscriber = Client("sub")
subscriber.subscribe(topic + "/#", 2)
publisher = Client("pub")

payloads = [
    (0, b"qos0"),
    (1, "qos1 \u00e9\u00e8".encode("utf-8")),
    (2, b"qos2"),
    (2, bytes(range(256)) * 40),
    (1, b""),
]
for index, (qos, payload) in enumerate(payloads):
    properties = None
    if V5:
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [("index", str(index))]
        properties.ContentType = "application/octet-stream"
    publisher.publish("%s/%d" % (topic, index), payload, qos, properties=properties)

received = {m.topic: m for m in subscriber.wait_for(len(payloads))}
for index, (qos, payload) in enumerate(payloads):
    message = received.get("%s/%d" % (topic, index))
    if message is None:
        fail("message %d missing; got %s" % (index, sorted(received)))
    if message.payload != payload:
        fail("message %d: payload differs (%d bytes, expected %d)" % (index, len(message.payload), len(payload)))
    if message.qos != qos:
        fail("message %d: QoS %d, expected %d" % (index, message.qos, qos))
    if message.retain:
        fail("message %d: RETAIN set on a live message" % index)
    if V5:
        user = getattr(message.properties, "UserProperty", None)
        if user != [("index", str(index))]:
            fail("message %d: user properties %r" % (index, user))
        if getattr(message.properties, "ContentType", None) != "application/octet-stream":
            fail("message %d: content type missing" % index)

retained_topic = PREFIX + "/retained"
publisher.publish(retained_topic, b"kept", 1, retain=True)
late = Client("late")
late.subscribe(retained_topic, 1)
message = late.wait_for(1)[0]
if message.payload != b"kept" or not message.retain:
    fail("retained message: payload %r retain %r" % (message.payload, message.retain))

for client in (subscriber, publisher, late):
    client.close()
print("OK", flush=True)
"""#
}
