#!/usr/bin/env python3
"""Writes the libFuzzer seed corpus (Tests/Fuzz/seeds/): small streams of valid MQTT packets.

Each file is one fuzz input: byte 0 picks the side (0 server, 1 client 3.1.1, 2 client 5.0),
the rest is the packets back to back. Run it again after changing it; the files are committed.
"""
import os
import struct

SERVER, V311, V5 = 0, 1, 2


def vbi(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def b(raw):
    return struct.pack(">H", len(raw)) + raw


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def props(*items):
    body = b"".join(items)
    return vbi(len(body)) + body


def packet(type_, flags, body):
    return bytes([type_ << 4 | flags]) + vbi(len(body)) + body


def connect(level, client_id, flags=0x02, keepalive=60, properties=b"", tail=b""):
    body = s("MQTT") + bytes([level, flags]) + u16(keepalive)
    if level == 5:
        body += properties or props()
    return packet(1, 0, body + s(client_id) + tail)


def publish(topic, payload, qos=0, pid=1, retain=False, dup=False, properties=None):
    body = s(topic)
    if qos:
        body += u16(pid)
    if properties is not None:
        body += properties
    flags = (0x08 if dup else 0) | qos << 1 | (1 if retain else 0)
    return packet(3, flags, body + payload)


user = lambda name, value: b"\x26" + s(name) + s(value)

seeds = {
    # Server side, 3.1.1: a session from CONNECT to DISCONNECT.
    "server-v311-session": [SERVER,
        connect(4, "sensor-1"),
        packet(8, 2, u16(1) + s("plant/+/temp") + b"\x01" + s("alarms/#") + b"\x00"),
        publish("plant/a/temp", b"21.5"),
        publish("plant/a/temp", b"21.6", qos=1, pid=2, retain=True),
        publish("plant/a/temp", b"21.7", qos=2, pid=3, dup=True),
        packet(6, 2, u16(3)),
        packet(10, 2, u16(4) + s("alarms/#")),
        packet(12, 0, b""),
        packet(14, 0, b"")],
    # 3.1.1 CONNECT with will, user name and password.
    "server-v311-connect-will": [SERVER,
        connect(4, "c2", flags=0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80, keepalive=30,
                tail=s("clients/c2/status") + b(b"offline") + s("alice") + b(b"secret"))],
    # 5.0 CONNECT with properties and a will with properties.
    "server-v5-connect-will": [SERVER,
        connect(5, "c3", flags=0x02 | 0x04 | 0x10 | 0x80,
                properties=props(b"\x11" + u32(3600), b"\x21" + u16(20), b"\x22" + u16(10),
                                 b"\x27" + u32(1 << 20), b"\x17\x01", b"\x19\x00", user("k", "v")),
                tail=props(b"\x18" + u32(5), b"\x01\x01", b"\x02" + u32(60), b"\x03" + s("text/plain"),
                           b"\x08" + s("reply/c3"), b"\x09" + b(b"\x01\x02"))
                     + s("clients/c3/status") + b(b"gone") + s("bob"))],
    # 5.0 session: subscribe with options, publish with alias, acks with reasons, auth, disconnect.
    "server-v5-session": [SERVER,
        connect(5, "", properties=props(b"\x15" + s("SCRAM-SHA-1"), b"\x16" + b(b"nonce"))),
        packet(15, 0, b"\x18" + props(b"\x15" + s("SCRAM-SHA-1"), b"\x16" + b(b"proof"))),
        packet(8, 2, u16(7) + props(b"\x0b" + vbi(42), user("a", "b"))
               + s("a/+/c") + b"\x2d" + s("$share/g/x/#") + b"\x01" + s("d") + b"\x1a"),
        publish("a/b/c", b"x" * 64, qos=1, pid=9, properties=props(b"\x23" + u16(1), b"\x01\x01")),
        publish("", b"aliased", properties=props(b"\x23" + u16(1))),
        packet(4, 0, u16(9) + b"\x10" + props(b"\x1f" + s("no one"))),
        packet(10, 2, u16(8) + props(user("why", "done")) + s("a/+/c") + s("d")),
        packet(14, 0, b"\x04" + props(b"\x11" + u32(0), b"\x1f" + s("bye")))],
    # Client side, 3.1.1.
    "client-v311-acks": [V311,
        packet(2, 0, b"\x01\x00"),
        packet(9, 0, u16(1) + b"\x00\x01\x02\x80"),
        packet(11, 0, u16(2)),
        publish("cmd/x", b"on", qos=1, pid=5),
        packet(5, 0, u16(6)),
        packet(7, 0, u16(6)),
        packet(13, 0, b"")],
    "client-v311-connack-refused": [V311, packet(2, 0, b"\x00\x05")],
    # Client side, 5.0.
    "client-v5-connack": [V5,
        packet(2, 0, b"\x00\x00" + props(b"\x12" + s("auto-1"), b"\x13" + u16(30), b"\x21" + u16(100),
                                         b"\x24\x01", b"\x25\x01", b"\x28\x01", b"\x29\x00", b"\x2a\x01",
                                         b"\x1a" + s("resp/"), b"\x22" + u16(5)))],
    "client-v5-publish-qos1": [V5,
        publish("sensors/room1/temp", bytes(range(64)), qos=1, pid=4711,
                properties=props(b"\x02" + u32(120), b"\x03" + s("application/json"), b"\x0b" + vbi(3),
                                 b"\x0b" + vbi(300), user("origin", "plc-7"))),
        packet(4, 0, u16(4711)),
        packet(5, 0, u16(12) + b"\x00" + props()),
        packet(6, 2, u16(12) + b"\x92"),
        packet(7, 0, u16(12) + b"\x00" + props(b"\x1f" + s("ok")))],
    "client-v5-publish-qos0": [V5, publish("a/b", b"p" * 64, properties=props())],
    "client-v5-suback": [V5,
        packet(9, 0, u16(3) + props(b"\x1f" + s("partial")) + b"\x00\x01\x02\x8f\xa1"),
        packet(11, 0, u16(4) + props() + b"\x00\x11"),
        packet(13, 0, b"")],
    "client-v5-disconnect": [V5, packet(14, 0, b"\x8b" + props(b"\x1c" + s("other.example:1883"), b"\x1f" + s("shutdown")))],
    "client-v5-auth": [V5, packet(15, 0, b"\x19" + props(b"\x15" + s("m"), user("x", "y"))), packet(15, 0, b"")],
    "client-v311-publish-qos0": [V311, publish("a/b", b"p" * 64)],
    "client-v5-large-remaining-length": [V5, publish("big/payload", b"z" * 300, qos=2, pid=2, properties=props())],
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
os.makedirs(here, exist_ok=True)
for name, (side, *packets) in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(bytes([side]) + b"".join(packets))
print(f"{len(seeds)} seeds written to {here}")
