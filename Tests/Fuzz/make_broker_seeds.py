#!/usr/bin/env python3
"""Writes the seed corpus of the stateful broker fuzzer (Tests/Fuzz/broker-seeds/).

Each file is one input of BrokerFuzz (Sources/MQTTBrokerFuzzing): byte 0 the broker limits, then
operations of up to four clients. Script mirrors BrokerFuzzScript (BrokerFuzzScript.swift is the
reference for the format); the scenarios follow the shapes of the broker's scenario tests
(SubPub, QoS2, Will, Session, ExpiryKeepalive, Retain, SharedSubscription, TopicAlias,
FlowControl, Malformed). Run it again after changing it; the files are committed, and
BrokerFuzzCorpusTests runs every one of them.
"""
import os
import shutil

# The tables of FuzzVocabulary.swift, in order.
FILTERS = [
    "#", "+", "a", "a/b", "a/+", "a/#", "+/b", "+/+", "a/b/c", "a/+/c", "+/#", "/", "//", "/a", "a/", "a//b",
    "$SYS/#", "$SYS/broker/+", "$SYS/+/uptime", "$x/#", "$x/+", "$share/g/a/#", "$share/g/#", "$share/h/+/b",
    "$share/g/a/b", "$share/g//a", "$share//a", "$share/g", "$share/g/", "$share/+/a", "$share/g+/a", "$share/#/a",
    "#/a", "a/b#", "a+/b", "", "a/#/b", "++", "##", "a\0b", "é/ü", "a b/c", "$share/g/$SYS/#", "c/d", "x",
    "$share/g/+", "+/+/+", "a/b/c/d/e/f/g/h",
]
TOPICS = [
    "a", "a/b", "a/b/c", "a/x/c", "b", "/", "//", "/a", "a/", "a//b", "$SYS/x", "$SYS/broker/uptime", "$x/y",
    "c/d", "x", "é/ü", "", "a/+", "#", "a\0", "$share/g/a", "a/b/c/d/e/f/g/h", "x/b",
]
# Limits bits (BrokerFuzzScript.Limits).
SMALL_QUEUE, SMALL_WINDOW, NO_QUEUED_QOS0, FEW_SUBSCRIPTIONS = 1, 2, 4, 8
NO_TOPIC_ALIASES, FEW_AWAITING_RELEASE, SHORT_KEEPALIVE, DEEP_TOPICS = 16, 32, 64, 128
# Operation codes (BrokerFuzzScript.Op).
(CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH, ACK, ACK_ALL, PING, DISCONNECT, DROP, RAW, ADVANCE, WRITABLE, SYS,
 BURST) = range(14)
# Indices into BrokerFuzzScript's tables.
EXPIRY = {0: 0, 1: 2, 5: 3, 30: 4, 300: 5, "never": 6, 2: 7}
DELAY = {0: 0, 1: 1, 3: 2, 10: 3, 60: 4}
KEEPALIVE = {0: 0, 1: 1, 2: 2, 5: 3, 60: 4}
ADVANCES = {100: 0, 500: 1, 1000: 2, 2000: 3, 3000: 4, 5000: 5, 10000: 6, 31000: 7, 61000: 8, 301000: 9}
PUBACK, PUBREC, PUBREL, PUBCOMP = range(4)


def f(name):
    return FILTERS.index(name)


def t(name):
    return TOPICS.index(name)


def opts(qos=0, no_local=False, rap=False, rh=0):
    return qos | (4 if no_local else 0) | (8 if rap else 0) | rh << 4


class Script:
    def __init__(self, limits=0):
        self.bytes = bytearray([limits])

    def op(self, code, *operands):
        self.bytes.append(code)
        self.bytes += bytes(operands)
        return self

    def connect(self, slot, id, v5=True, clean=True, expiry=0, will=None, will_qos=1, will_retain=False,
                will_delay=0, keepalive=0, receive_max_one=False, max_packet_size=False, alias_max=False):
        flags = (1 if v5 else 0) | (2 if clean else 0) | (0x40 if receive_max_one else 0) | (0x80 if max_packet_size else 0)
        if will is not None:
            flags |= 4 | (will_qos & 3) << 3 | (0x20 if will_retain else 0)
        operands = [slot | id << 2, flags, EXPIRY[expiry], DELAY[will_delay], KEEPALIVE[keepalive], 1 if alias_max else 0]
        if will is not None:
            operands.append(t(will))
        return self.op(CONNECT, *operands)

    def subscribe(self, slot, *filters, identifier=0):
        """filters: (name, options byte) pairs."""
        operands = [slot, len(filters)]
        for name, o in filters:
            operands += [f(name), o]
        return self.op(SUBSCRIBE, *operands, identifier)

    def subscribe_deep(self, slot, depth, shape, options=1):
        return self.op(SUBSCRIBE, slot, 1, 0xFF, depth >> 8, depth & 0xFF, shape, options, 0)

    def unsubscribe(self, slot, *names):
        return self.op(UNSUBSCRIBE, slot, len(names), *[f(n) for n in names])

    def publish(self, slot, topic, qos=0, retain=False, dup=False, set_alias=False, alias_only=False, expires=False,
                empty=False, alias=0, split=0):
        flags = (qos | (4 if retain else 0) | (8 if dup else 0) | (0x10 if set_alias else 0) | (0x20 if alias_only else 0)
                 | (0x40 if expires else 0) | (0x80 if empty else 0))
        return self.op(PUBLISH, slot, flags, t(topic), alias, split)

    def publish_deep(self, slot, depth, shape, qos=1):
        return self.op(PUBLISH, slot, qos, 0xFF, depth >> 8, depth & 0xFF, shape, 0, 0)

    def ack(self, slot, kind, back=0, raw_id=None, reason=0):
        if raw_id is not None:
            return self.op(ACK, slot, kind, 0x80, raw_id >> 8, raw_id & 0xFF, reason)
        return self.op(ACK, slot, kind, back, reason)

    def ack_all(self, slot):
        return self.op(ACK_ALL, slot)

    def ping(self, slot):
        return self.op(PING, slot)

    def disconnect(self, slot, reason=0, expiry=None):
        return self.op(DISCONNECT, slot, reason, 0 if expiry is None else EXPIRY[expiry] + 1)

    def drop(self, slot):
        return self.op(DROP, slot)

    def raw(self, slot, data):
        return self.op(RAW, slot, len(data), *data)

    def advance(self, ms):
        return self.op(ADVANCE, ADVANCES[ms])

    def writable(self, slot):
        return self.op(WRITABLE, slot)

    def sys(self):
        return self.op(SYS)

    def burst(self, slot, count, qos, topic):
        return self.op(BURST, slot, count, qos, t(topic))


def pair(v5=True, qos=1, limits=0):
    """Subscriber c0 on slot 0 (a/#), publisher c1 on slot 1."""
    return (Script(limits).connect(0, 0, v5=v5).subscribe(0, ("a/#", opts(qos)))
            .connect(1, 1, v5=v5))


def seeds():
    s = {}
    for v5, name in ((False, "v311"), (True, "v5")):
        for qos in range(3):
            s[f"{name}-pubsub-qos{qos}"] = pair(v5, qos).publish(1, "a/b", qos).ack_all(0).ack_all(0).ack_all(1)
        s[f"{name}-qos2-flow"] = (pair(v5, 2).publish(1, "a/b", 2).ack(1, PUBREL).ack(0, PUBREC).ack(0, PUBCOMP)
                                  .ack_all(0))
        s[f"{name}-acks-out-of-order"] = (pair(v5, 2).publish(1, "a/b", 1).publish(1, "a/b/c", 2).publish(1, "a", 2)
                                          .ack(0, PUBREC, back=1).ack(0, PUBACK, back=2).ack(0, PUBCOMP, raw_id=7)
                                          .ack(0, PUBREC, back=0).ack(0, PUBCOMP).ack(1, PUBREL, back=1).ack(1, PUBREL))
        s[f"{name}-takeover-persistent"] = (Script().connect(0, 0, v5=v5, clean=False, expiry=300).subscribe(0, ("a/b", opts(1)))
                                            .connect(1, 0, v5=v5, clean=False, expiry=300).connect(2, 1, v5=v5)
                                            .publish(2, "a/b", 1).ack_all(1))
        s[f"{name}-takeover-clean"] = (Script().connect(0, 0, v5=v5, will="a/b").connect(2, 1, v5=v5)
                                       .subscribe(2, ("a/#", opts(1))).connect(1, 0, v5=v5).ack_all(2))
        s[f"{name}-will-abrupt"] = (Script().connect(0, 1, v5=v5).subscribe(0, ("a/#", opts(1)))
                                    .connect(1, 0, v5=v5, will="a/b", will_retain=True).drop(1).ack_all(0)
                                    .connect(2, 2, v5=v5).subscribe(2, ("a/b", opts(1))))
        s[f"{name}-will-normal-disconnect"] = (Script().connect(0, 1, v5=v5).subscribe(0, ("a/#", opts(1)))
                                               .connect(1, 0, v5=v5, will="a/b").disconnect(1).connect(1, 0, v5=v5))
        s[f"{name}-keepalive-expiry"] = (Script().connect(0, 1, v5=v5).subscribe(0, ("#", opts(1)))
                                         .connect(1, 0, v5=v5, keepalive=1, will="a").advance(1000).ping(1)
                                         .advance(3000).ack_all(0))
        s[f"{name}-session-resume"] = (Script().connect(0, 0, v5=v5, clean=False, expiry=5).subscribe(0, ("a/+", opts(2)))
                                       .drop(0).connect(1, 1, v5=v5).publish(1, "a/b", 2).publish(1, "a/b", 1)
                                       .ack_all(1).connect(0, 0, v5=v5, clean=False, expiry=5).ack_all(0).ack_all(0))
        s[f"{name}-inflight-resend"] = (Script().connect(0, 0, v5=v5, clean=False, expiry=30).subscribe(0, ("a/#", opts(1)))
                                        .connect(1, 1, v5=v5).publish(1, "a/b", 1).drop(0)
                                        .connect(0, 0, v5=v5, clean=False, expiry=30).ack_all(0))
        s[f"{name}-retained"] = (Script().connect(1, 1, v5=v5).publish(1, "a/b", 1, retain=True)
                                 .publish(1, "a/b/c", 0, retain=True).connect(0, 0, v5=v5)
                                 .subscribe(0, ("a/#", opts(1)), ("a/+", opts(0, rap=True))).ack_all(0)
                                 .publish(1, "a/b", 0, retain=True, empty=True).subscribe(0, ("a/b", opts(1))))
        s[f"{name}-invalid-filters"] = (Script().connect(0, 0, v5=v5)
                                        .subscribe(0, ("#/a", opts(1)), ("a/b#", opts(0)), ("a+/b", opts(1)))
                                        .subscribe(0, ("", opts(0))).subscribe(0, ("a/#/b", opts(1))).ping(0))
        s[f"{name}-odd-filters"] = (Script().connect(0, 0, v5=v5)
                                    .subscribe(0, ("/", opts(1)), ("//", opts(1)), ("+/+", opts(2)))
                                    .subscribe(0, ("a//b", opts(1)), ("$x/#", opts(1)), ("+/#", opts(1)))
                                    .connect(1, 1, v5=v5).publish(1, "/", 1).publish(1, "//", 2).publish(1, "a//b", 1)
                                    .publish(1, "$x/y", 1).publish(1, "/a", 1).ack_all(0).ack_all(1).unsubscribe(0, "/", "//", "x"))
        s[f"{name}-sys"] = (Script().connect(0, 0, v5=v5).subscribe(0, ("$SYS/#", opts(0)), ("#", opts(1)))
                            .sys().connect(1, 1, v5=v5).publish(1, "$SYS/x", 1).publish(1, "$SYS/broker/uptime", 0))
        s[f"{name}-shared"] = (Script().connect(0, 0, v5=v5).connect(2, 2, v5=v5)
                               .subscribe(0, ("$share/g/a/#", opts(1))).subscribe(2, ("$share/g/a/#", opts(1)))
                               .connect(1, 1, v5=v5).publish(1, "a/b", 1).publish(1, "a/b/c", 1).publish(1, "a", 1)
                               .drop(2).publish(1, "a/b", 1).ack_all(0))
        s[f"{name}-unsubscribe"] = (pair(v5, 1).publish(1, "a/b", 1).unsubscribe(0, "a/#").publish(1, "a/b", 1)
                                    .unsubscribe(0, "a/#").ack_all(0))
        s[f"{name}-second-connect"] = Script().connect(0, 0, v5=v5).connect(0, 1, v5=v5)
        s[f"{name}-publish-before-connect"] = Script().raw(0, b"\x30\x05\x00\x01a\x68\x69")
        s[f"{name}-garbage-after-connect"] = Script().connect(0, 0, v5=v5).raw(0, b"\xf0\x00\x00\x01\xff\xff\xff\xff\x7f")
        s[f"{name}-burst-window"] = (Script(SMALL_WINDOW | SMALL_QUEUE).connect(0, 0, v5=v5).subscribe(0, ("a/#", opts(2)))
                                     .connect(1, 1, v5=v5).burst(1, 8, 1, "a/b").ack_all(0).ack_all(0).ack_all(0))
        s[f"{name}-unwritable"] = (pair(v5, 1, SMALL_QUEUE).writable(0).burst(1, 5, 1, "a/b").writable(0).ack_all(0))
        s[f"{name}-deep-filter"] = (Script().connect(0, 0, v5=v5).subscribe_deep(0, 200, 1).subscribe_deep(0, 300, 2)
                                    .connect(1, 1, v5=v5).publish_deep(1, 200, 1).unsubscribe(0, "a").drop(0))
        s[f"{name}-split-packets"] = pair(v5, 1).publish(1, "a/b", 1, split=3).publish(1, "a/b", 2, split=1).ack_all(0)
    # 5.0 only.
    s["v5-will-delay-reconnect"] = (Script().connect(0, 1).subscribe(0, ("#", opts(1)))
                                    .connect(1, 0, clean=False, expiry=30, will="a/b", will_delay=3).drop(1)
                                    .advance(1000).connect(1, 0, clean=True).advance(5000).ack_all(0))
    s["v5-will-delay-elapses"] = (Script().connect(0, 1).subscribe(0, ("#", opts(1)))
                                  .connect(1, 0, clean=False, expiry=30, will="a/b", will_delay=3).drop(1)
                                  .advance(3000).advance(1000).ack_all(0))
    s["v5-will-session-ends-first"] = (Script().connect(0, 1).subscribe(0, ("#", opts(1)))
                                       .connect(1, 0, clean=False, expiry=1, will="a/b", will_delay=10).drop(1)
                                       .advance(2000).ack_all(0))
    s["v5-will-disconnect-with-will"] = (Script().connect(0, 1).subscribe(0, ("#", opts(1)))
                                         .connect(1, 0, will="a", will_qos=2).disconnect(1, reason=1).ack_all(0))
    s["v5-session-expiry"] = (Script().connect(0, 0, clean=False, expiry=1).subscribe(0, ("a/b", opts(1))).drop(0)
                              .advance(2000).connect(0, 0, clean=False, expiry=1))
    s["v5-disconnect-expiry-change"] = (Script().connect(0, 0, expiry=5).disconnect(0, expiry=30)
                                        .connect(1, 1).disconnect(1, expiry=5).connect(1, 1, clean=False))
    s["v5-topic-alias"] = (pair(True, 1).publish(1, "a/b", 1, set_alias=True, alias=0)
                           .publish(1, "a/b", 1, alias_only=True, alias=0).publish(1, "a", 1, alias_only=True, alias=5)
                           .ack_all(0))
    s["v5-outbound-alias"] = (Script().connect(0, 0, alias_max=True).subscribe(0, ("#", opts(1))).connect(1, 1)
                              .publish(1, "a/b", 1).publish(1, "a/b", 1).publish(1, "c/d", 0).publish(1, "x", 1).ack_all(0))
    s["v5-no-local-rap"] = (Script().connect(0, 0).subscribe(0, ("a/#", opts(1, no_local=True)), ("a/b", opts(2, rap=True, rh=1)))
                            .publish(0, "a/b", 1, retain=True).connect(1, 1).publish(1, "a/b", 2, retain=True).ack_all(0))
    s["v5-receive-maximum-one"] = (Script().connect(0, 0, receive_max_one=True).subscribe(0, ("a/#", opts(1)))
                                   .connect(1, 1).burst(1, 4, 1, "a/b").ack(0, PUBACK).ack_all(0).ack_all(0))
    s["v5-max-packet-size"] = (Script().connect(0, 0, max_packet_size=True).subscribe(0, ("a/#", opts(1)))
                               .connect(1, 1).publish(1, "a/b/c/d/e/f/g/h", 1).publish(1, "a", 1).ack_all(0))
    s["v5-message-expiry"] = (Script().connect(0, 0, clean=False, expiry=30).subscribe(0, ("a/#", opts(1))).drop(0)
                              .connect(1, 1).publish(1, "a/b", 1, expires=True, alias=1).advance(2000)
                              .connect(0, 0, clean=False, expiry=30))
    s["v5-qos2-duplicate"] = (pair(True, 2).publish(1, "a/b", 2).publish(1, "a/b", 2, dup=True).ack_all(1)
                              .publish(1, "a/b", 2, dup=True).ack_all(0))
    s["v5-awaiting-release-limit"] = (Script(FEW_AWAITING_RELEASE).connect(0, 0).publish(0, "a", 2).publish(0, "b", 2)
                                      .publish(0, "x", 2))
    s["v5-subscription-limit"] = (Script(FEW_SUBSCRIPTIONS).connect(0, 0)
                                  .subscribe(0, ("a", opts(1)), ("a/b", opts(1)), ("a/+", opts(1)))
                                  .subscribe(0, ("x", opts(1))).subscribe(0, ("a", opts(2))))
    s["v5-server-keepalive"] = Script(SHORT_KEEPALIVE).connect(0, 0, keepalive=60).advance(5000).advance(5000)
    s["v5-connect-timeout"] = Script().raw(0, b"").advance(10000).advance(1000)
    s["v5-empty-client-id"] = (Script().connect(0, 3).subscribe(0, ("a", opts(1))).connect(1, 3, clean=False, expiry=5)
                               .connect(2, 1).publish(2, "a", 1))
    s["v311-empty-client-id-persistent"] = Script().connect(0, 3, v5=False, clean=False)
    # Issue 20: a 65,535-byte filter of 65,536 levels, then UNSUBSCRIBE, a matching PUBLISH and DISCONNECT.
    for v5, name in ((False, "v311"), (True, "v5")):
        for shape in range(4):
            s[f"{name}-deep-65535-shape{shape}"] = (
                Script(DEEP_TOPICS).connect(0, 0, v5=v5, clean=False, expiry=30).subscribe_deep(0, 65535, shape)
                .connect(1, 1, v5=v5).publish_deep(1, 65535, shape % 2).publish_deep(1, 32767, 1).ack_all(0)
                .drop(0).connect(0, 0, v5=v5, clean=False, expiry=30).unsubscribe(0, "/").subscribe_deep(0, 65535, shape)
                .disconnect(0))
        s[f"{name}-deep-refused"] = (Script().connect(0, 0, v5=v5).subscribe_deep(0, 200, 1).connect(1, 1, v5=v5)
                                     .publish_deep(1, 200, 1))
    s["v5-deep-filter-1000"] = (Script().connect(0, 0).subscribe_deep(0, 1000, 0).subscribe_deep(0, 1000, 3)
                                .connect(1, 1).publish_deep(1, 1000, 0).unsubscribe(0, "/").disconnect(0))
    # The fuzzer's findings on the broker of issue 20, kept as regressions.
    s["finding-suback-reason-string-deep-filter"] = Script().connect(0, 0).subscribe_deep(0, 65535, 1).ping(0)
    s["finding-unsuback-reason-string-deep-filter"] = Script().connect(0, 0).op(UNSUBSCRIBE, 0, 1, 0xFF, 0xFF, 0xFF, 1).ping(0)
    s["finding-suback-quota-deep-filter"] = (Script(DEEP_TOPICS | FEW_SUBSCRIPTIONS).connect(0, 0)
                                             .subscribe(0, ("a", opts(1)), ("a/b", opts(1)), ("x", opts(0)))
                                             .subscribe(0, ("#", opts(0))).subscribe_deep(0, 65535, 3).ping(0))
    s["finding-suback-above-maximum-packet-size"] = Script().connect(0, 0, max_packet_size=True).subscribe_deep(0, 200, 1)
    s["finding-awaiting-release-v311-sys"] = (Script(FEW_AWAITING_RELEASE).connect(0, 0, v5=False).burst(0, 5, 2, "$SYS/x")
                                              .ack_all(0).burst(0, 3, 2, "a"))
    s["mixed-versions"] = (Script(SMALL_QUEUE | NO_QUEUED_QOS0).connect(0, 0, v5=False, clean=False)
                           .subscribe(0, ("+/b", opts(2)), ("a/#", opts(0))).connect(1, 1).publish(1, "a/b", 2)
                           .drop(0).burst(1, 6, 0, "a/b").publish(1, "x/b", 1).connect(0, 0, v5=False, clean=False)
                           .ack_all(0).ack_all(0))
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "broker-seeds")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, script in sorted(seeds().items()):
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(bytes(script.bytes))
    print(f"{len(seeds())} seeds in {out}")


if __name__ == "__main__":
    main()
