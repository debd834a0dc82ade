"""A synthetic but realistic AMI byte stream: the traffic of a busy PBX, from a fixed seed.

The header sets follow what a real Asterisk 22 sends (see ``tests/data/*.raw``): channel snapshots
(``Channel`` ... ``Linkedid``) with ``ChanVariable`` lines as configured by ``channelvars`` in
``manager.conf``, ``Dest``-prefixed snapshots in dial events, bridge snapshots, CDRs, queue and
endpoint status, responses with and without ``ActionID``, ``CoreShowChannels`` event lists and
``Command`` output as ``Output:`` lines. Several calls are interleaved, caller names include
non-ASCII UTF-8 text and, rarely, Latin-1 bytes that are not valid UTF-8 (as some trunks send).

``build_corpus(size)`` returns ``(data, stats)``; the stream starts with the banner line.
Run this module to write a corpus to a file: ``python benchmarks/ami_corpus.py out.raw [MB]``.
"""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Iterator

BANNER = b"Asterisk Call Manager/11.0.0\r\n"

_FIRST = [
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
    "Mallory", "Oscar", "Peggy", "Trent", "Victor", "Walter", "Sybil", "Wendy",
]  # fmt: skip
_LAST = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
]  # fmt: skip
# Caller names that are not ASCII: UTF-8 as Asterisk normally sends them.
_INTL = [
    "José Müller", "Zoë Ångström", "François Lefèvre", "Łukasz Żółć", "Søren Kierkegård",
    "Ελένη Παπαδοπούλου", "Дмитрий Иванов", "山田太郎", "张伟", "Nguyễn Văn An", "محمد علي",
    "Çağla Öztürk", "Dvořák Antonín", "Renée Côté",
]  # fmt: skip
_QUEUES = ["support", "sales", "billing", "noc"]
_DIAL_STATUS = ["ANSWER"] * 7 + ["BUSY", "NOANSWER", "CANCEL"]
_CAUSES = [(16, "Normal Clearing")] * 8 + [(17, "User busy"), (19, "No answer")]
_CONTACT_STATUS = ["Reachable"] * 6 + ["Unreachable", "Created", "Updated"]


class _Call:
    """Identifiers of one call between an outside caller and an internal extension."""

    def __init__(self, rng: random.Random, serial: int, now: int) -> None:
        self.rng = rng
        self.trunk = rng.choice(["trunk-a", "trunk-b", "carrier1"])
        roll = rng.random()
        self.name_bytes: bytes
        if roll < 0.12:
            self.name_bytes = rng.choice(_INTL).encode()
        elif roll < 0.14:  # a trunk that sends Latin-1: not valid UTF-8
            self.name_bytes = rng.choice(["José Muñoz", "Björn Nässlin"]).encode("latin-1")
        else:
            self.name_bytes = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}".encode()
        self.num = f"+1{rng.randint(200, 999)}{rng.randint(2000000, 9999999)}"
        self.did = f"{rng.randint(200, 999)}555{rng.randint(1000, 9999)}"
        self.ext = str(rng.randint(1001, 1299))
        self.chan_a = f"PJSIP/{self.trunk}-{serial * 2:08x}"
        self.chan_b = f"PJSIP/{self.ext}-{serial * 2 + 1:08x}"
        self.uid_a = f"{now}.{serial * 2}"
        self.uid_b = f"{now}.{serial * 2 + 1}"
        self.bridge = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.queue = rng.choice(_QUEUES)
        self.account = rng.choice(["", "", "acct-7", "dept-sales"])


def _snapshot(
    call: _Call,
    side: str,
    state: int,
    *,
    prefix: str = "",
    exten: str | None = None,
    priority: int = 1,
) -> list[bytes]:
    """A channel snapshot: the ~15 headers every channel event carries, plus ChanVariables."""
    states = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
    if side == "a":
        chan, uid, cid_num, cid_name = call.chan_a, call.uid_a, call.num, call.name_bytes
        conn_num, conn_name = call.ext, b"Extension " + call.ext.encode()
        context = "from-trunk"
        exten = call.did if exten is None else exten
    else:
        chan, uid, cid_num, cid_name = call.chan_b, call.uid_b, call.ext, b"<unknown>"
        conn_num, conn_name = call.num, call.name_bytes
        context = "from-internal"
        exten = call.ext if exten is None else exten
    p = prefix.encode()
    return [
        b"%sChannel: %s" % (p, chan.encode()),
        b"%sChannelState: %d" % (p, state),
        b"%sChannelStateDesc: %s" % (p, states[state].encode()),
        b"%sCallerIDNum: %s" % (p, cid_num.encode()),
        b"%sCallerIDName: %s" % (p, cid_name),
        b"%sConnectedLineNum: %s" % (p, conn_num.encode()),
        b"%sConnectedLineName: %s" % (p, conn_name),
        b"%sLanguage: en" % p,
        b"%sAccountCode: %s" % (p, call.account.encode()),
        b"%sContext: %s" % (p, context.encode()),
        b"%sExten: %s" % (p, exten.encode()),
        b"%sPriority: %d" % (p, priority),
        b"%sUniqueid: %s" % (p, uid.encode()),
        b"%sLinkedid: %s" % (p, call.uid_a.encode()),
        # channelvars=CALLTYPE,QUEUE,TRUNK in manager.conf: one line per variable.
        b"%sChanVariable: CALLTYPE=inbound" % p,
        b"%sChanVariable: QUEUE=%s" % (p, call.queue.encode()),
        b"%sChanVariable: TRUNK=%s" % (p, call.trunk.encode()),
    ]


def _bridge(call: _Call, count: int) -> list[bytes]:
    return [
        b"BridgeUniqueid: " + call.bridge.encode(),
        b"BridgeType: basic",
        b"BridgeTechnology: simple_bridge",
        b"BridgeCreator: <unknown>",
        b"BridgeName: <unknown>",
        b"BridgeNumChannels: %d" % count,
        b"BridgeVideoSourceMode: none",
    ]


def _event(name: str, privilege: str, lines: list[bytes]) -> bytes:
    head = b"Event: %s\r\nPrivilege: %s,all\r\n" % (name.encode(), privilege.encode())
    return head + b"\r\n".join(lines) + b"\r\n\r\n"


def _call_flow(call: _Call) -> Iterator[bytes]:
    """Every event of one inbound call to a queue member, in Asterisk's order."""
    rng = call.rng
    yield _event("Newchannel", "call", _snapshot(call, "a", 4))
    prio = 1
    for app, data in (
        ("NoOp", f"Inbound call from {call.num}"),
        ("Set", "CALLTYPE=inbound"),
        ("Set", f"QUEUE={call.queue}"),
        ("Gosub", "sub-record-check,s,1(in)"),
        ("Dial", f"PJSIP/{call.ext},30,tT"),
    ):
        yield _event(
            "Newexten",
            "dialplan",
            [
                *_snapshot(call, "a", 4, priority=prio),
                b"Extension: " + call.did.encode(),
                b"Application: " + app.encode(),
                b"AppData: " + data.encode(),
            ],
        )
        if app == "Set":
            var, _, value = data.partition("=")
            yield _event(
                "VarSet",
                "dialplan",
                [
                    *_snapshot(call, "a", 4, priority=prio),
                    b"Variable: " + var.encode(),
                    b"Value: " + value.encode(),
                ],
            )
        prio += 1
    yield _event("Newchannel", "call", _snapshot(call, "b", 0))
    yield _event(
        "DialBegin",
        "call",
        [
            *_snapshot(call, "a", 4, priority=prio - 1),
            *_snapshot(call, "b", 0, prefix="Dest"),
            b"DialString: " + call.ext.encode(),
        ],
    )
    yield _event("Newstate", "call", _snapshot(call, "b", 5))
    status = rng.choice(_DIAL_STATUS)
    yield _event(
        "DialEnd",
        "call",
        [
            *_snapshot(call, "a", 4, priority=prio - 1),
            *_snapshot(call, "b", 6 if status == "ANSWER" else 5, prefix="Dest"),
            b"DialStatus: " + status.encode(),
        ],
    )
    if status == "ANSWER":
        yield _event("Newstate", "call", _snapshot(call, "b", 6))
        yield _event("Newstate", "call", _snapshot(call, "a", 6, priority=prio - 1))
        yield _event(
            "BridgeEnter",
            "call",
            [*_bridge(call, 1), *_snapshot(call, "a", 6, priority=prio - 1)],
        )
        yield _event("BridgeEnter", "call", [*_bridge(call, 2), *_snapshot(call, "b", 6)])
        yield _event("BridgeLeave", "call", [*_bridge(call, 1), *_snapshot(call, "b", 6)])
        yield _event(
            "BridgeLeave",
            "call",
            [*_bridge(call, 0), *_snapshot(call, "a", 6, priority=prio - 1)],
        )
        state_a, state_b = 6, 6
    else:
        state_a, state_b = 4, 5
    cause, cause_txt = rng.choice(_CAUSES)
    for side, state in (("b", state_b), ("a", state_a)):
        yield _event(
            "Hangup",
            "call",
            [
                *_snapshot(call, side, state, priority=prio - 1 if side == "a" else 1),
                b"Cause: %d" % cause,
                b"Cause-txt: " + cause_txt.encode(),
            ],
        )
    duration = rng.randint(5, 900)
    billsec = max(0, duration - rng.randint(3, 20)) if status == "ANSWER" else 0
    yield _event(
        "Cdr",
        "cdr",
        [
            b"AccountCode: " + call.account.encode(),
            b"Source: " + call.num.encode(),
            b"Destination: " + call.did.encode(),
            b"DestinationContext: from-trunk",
            b'CallerID: "' + call.name_bytes + b'" <' + call.num.encode() + b">",
            b"Channel: " + call.chan_a.encode(),
            b"DestinationChannel: " + call.chan_b.encode(),
            b"LastApplication: Dial",
            b"LastData: PJSIP/" + call.ext.encode() + b",30,tT",
            b"StartTime: 2026-11-26 05:52:55",
            b"AnswerTime: " + (b"2026-11-26 05:53:01" if status == "ANSWER" else b""),
            b"EndTime: 2026-11-26 06:07:55",
            b"Duration: %d" % duration,
            b"BillableSeconds: %d" % billsec,
            b"Disposition: " + (b"ANSWERED" if status == "ANSWER" else b"NO ANSWER"),
            b"AMAFlags: DOCUMENTATION",
            b"UniqueID: " + call.uid_a.encode(),
            b"UserField: ",
        ],
    )
    yield _event(
        "QueueMemberStatus",
        "agent",
        [
            b"Queue: " + call.queue.encode(),
            b"MemberName: Extension " + call.ext.encode(),
            b"Interface: PJSIP/" + call.ext.encode(),
            b"StateInterface: PJSIP/" + call.ext.encode(),
            b"Membership: dynamic",
            b"Penalty: 0",
            b"CallsTaken: %d" % rng.randint(0, 80),
            b"LastCall: 1795672375",
            b"LastPause: 0",
            b"LoginTime: 1795660000",
            b"InCall: 0",
            b"Status: 1",
            b"Paused: 0",
            b"PausedReason: ",
            b"Ringinuse: 0",
            b"Wrapuptime: 0",
        ],
    )


def _background(rng: random.Random, serial: int, calls: list[_Call]) -> list[bytes]:
    """Traffic that is not part of a call: endpoint status, responses, lists, Command output."""
    roll = rng.random()
    ext = str(rng.randint(1001, 1299))
    if roll < 0.30:
        return [
            _event(
                "ContactStatus",
                "system",
                [
                    b"URI: sip:%s@10.0.%d.%d:5060;transport=udp"
                    % (ext.encode(), rng.randint(0, 9), rng.randint(2, 250)),
                    b"ContactStatus: " + rng.choice(_CONTACT_STATUS).encode(),
                    b"AOR: " + ext.encode(),
                    b"EndpointName: " + ext.encode(),
                    b"RoundtripUsec: %d" % rng.randint(300, 90000),
                    b"UserAgent: Yealink SIP-T54W 96.86.0.70",
                    b"RegExpire: 1795672735",
                    b"ViaAddress: 10.0.1.10:5060",
                    b"CallID: %032x" % rng.getrandbits(128),
                ],
            )
        ]
    if roll < 0.50:
        return [
            _event(
                "PeerStatus",
                "system",
                [
                    b"ChannelType: PJSIP",
                    b"Peer: PJSIP/" + ext.encode(),
                    b"PeerStatus: " + rng.choice([b"Reachable", b"Reachable", b"Unreachable"]),
                    b"Address: 10.0.1.%d:5060" % rng.randint(2, 250),
                ],
            ),
            _event("DeviceStateChange", "call", [b"Device: PJSIP/" + ext.encode(), b"State: "
                   + rng.choice([b"NOT_INUSE", b"INUSE", b"RINGING", b"UNAVAILABLE"])]),
        ]  # fmt: skip
    if roll < 0.78:  # keepalive Ping answered, with or without ActionID
        lines = [b"Response: Success"]
        if rng.random() < 0.8:
            lines.append(b"ActionID: 5f2c9a1e-%d" % serial)
        lines += [b"Ping: Pong", b"Timestamp: 1795672375.%06d" % rng.randint(0, 999999)]
        return [b"\r\n".join(lines) + b"\r\n\r\n"]
    if roll < 0.90:  # CoreShowChannels: response, one event per channel, Complete
        action_id = b"ActionID: 5f2c9a1e-%d" % serial
        out = [
            b"Response: Success\r\n%s\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
            % action_id
        ]
        shown = calls[: rng.randint(0, 6)]
        for call in shown:
            out.append(
                b"Event: CoreShowChannel\r\n%s\r\n" % action_id
                + b"\r\n".join(_snapshot(call, "a", 6, priority=5))
                + b"\r\nApplication: Dial\r\nApplicationData: PJSIP/%s,30,tT\r\n"
                b"Duration: 00:0%d:%02d\r\nBridgeId: %s\r\n\r\n"
                % (call.ext.encode(), rng.randint(0, 9), rng.randint(0, 59), call.bridge.encode())
            )
        out.append(
            b"Event: CoreShowChannelsComplete\r\n%s\r\nEventList: Complete\r\nListItems: %d\r\n\r\n"
            % (action_id, len(shown))
        )
        return out
    if roll < 0.97:  # a response without ActionID, e.g. to Setvar or Redirect
        return [
            rng.choice(
                [
                    b"Response: Success\r\nMessage: Variable Set\r\n\r\n",
                    b"Response: Success\r\nMessage: Redirect successful\r\n\r\n",
                    b"Response: Error\r\nMessage: No such channel\r\n\r\n",
                ]
            )
        ]
    # Command output, Asterisk >= 14 format: one Output: header per CLI line.
    rows = [
        b"Output: Channel              Location             State   Application(Data)",
    ]
    for call in calls[: rng.randint(1, 12)]:
        rows.append(
            b"Output: %-20s %-20s Up      Dial(PJSIP/%s,30,tT)"
            % (call.chan_a.encode(), (call.did + "@from-trunk:5").encode(), call.ext.encode())
        )
    rows += [
        b"Output: %d active channels" % (2 * len(rows) - 2),
        b"Output: %d active calls" % (len(rows) - 2),
        b"Output: %d calls processed" % (serial * 3),
    ]
    return [
        b"Response: Success\r\nActionID: 5f2c9a1e-%d\r\nMessage: Command output follows\r\n"
        % serial
        + b"\r\n".join(rows)
        + b"\r\n\r\n"
    ]


def generate(size: int, seed: int = 20261126) -> Iterator[bytes]:
    """Yield packets (banner first) until at least ``size`` bytes were produced."""
    rng = random.Random(seed)
    produced = len(BANNER)
    yield BANNER
    flows: list[tuple[_Call, Iterator[bytes]]] = []
    serial = 0
    now = 1795672375
    while produced < size:
        if len(flows) < 24 and rng.random() < 0.3:
            serial += 1
            call = _Call(rng, serial, now + serial // 5)
            flows.append((call, _call_flow(call)))
        if flows and rng.random() < 0.85:
            i = rng.randrange(len(flows))
            packet = next(flows[i][1], None)
            if packet is None:
                flows.pop(i)
                continue
            packets = [packet]
        else:
            serial += 1
            packets = _background(rng, serial, [call for call, _ in flows])
        for packet in packets:
            produced += len(packet)
            yield packet


def build_corpus(size: int, seed: int = 20261126) -> tuple[bytes, dict[str, object]]:
    """The corpus as one bytes object, and statistics about it."""
    packets = list(generate(size, seed))
    data = b"".join(packets)
    names: dict[str, int] = {}
    for packet in packets[1:]:
        first = packet.split(b"\r\n", 1)[0].decode()
        names[first] = names.get(first, 0) + 1
    messages = len(packets) - 1
    stats: dict[str, object] = {
        "bytes": len(data),
        "messages": messages,
        "mean_message_bytes": round((len(data) - len(BANNER)) / messages, 1),
        "kinds": dict(sorted(names.items(), key=lambda item: -item[1])),
        "non_ascii_messages": sum(1 for packet in packets[1:] if not packet.isascii()),
    }
    return data, stats


if __name__ == "__main__":
    target = int(float(sys.argv[2]) * 1e6) if len(sys.argv) > 2 else 20_000_000
    corpus, info = build_corpus(target)
    with open(sys.argv[1], "wb") as f:
        f.write(corpus)
    print(info)
