"""The trio-ami command (also ``python -m trio_ami``): the demo, and a small AMI tool.

The help text lives in ``_DESCRIPTION``, ``_EPILOG`` and the arguments' ``help=``: argparse
prints them as they are, so they are plain text.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import NoReturn

import trio

from . import __version__
from ._connection import AMIConnection
from ._open import open_ami
from ._watch import watch_events
from .redis._cli import add_commands, run_command, wants_scaleout
from .sansio import ActionFailed, ActionResult, AMIError, Event, Message, requests

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["format_event", "main"]

_DESCRIPTION = """\
An Asterisk Manager Interface (AMI) client: a demo against a simulated PBX, and a small
tool to watch a real server's events, run an action or run a CLI command.

examples:
  trio-ami demo                                      simulated PBX on loopback, live events
  trio-ami events pbx.example.com -u admin           every event, one line each
  trio-ami events pbx.example.com -u admin Hangup 'Dial*'
  trio-ami events pbx.example.com -u admin --no-reconnect
  trio-ami action pbx.example.com -u admin Getvar Variable=FOO
  trio-ami command pbx.example.com -u admin "core show channels"

The secret comes from --secret, else from the AMI_SECRET environment variable, else it is
asked for on the terminal (so that it need not appear in the process list)."""

_EPILOG = """\
exit status: 0 success; 1 the action or command failed, or an AMI error (login refused,
connection lost, ...); 2 bad arguments or no secret; 130 interrupted (Ctrl-C); 141 the reader
of the output went away (piped into head, say), as for a process killed by SIGPIPE."""

_SECRET_HELP = (
    "the AMI user's secret (default: the AMI_SECRET environment variable; if neither is "
    "given, it is prompted for on the terminal)"
)

# 128 + SIGPIPE: the status a shell reports for a process that SIGPIPE killed (`yes | head`).
_EXIT_BROKEN_PIPE = 141
_EXIT_INTERRUPTED = 130  # 128 + SIGINT

# The one-line format: the channel (or device, peer, parked call) in a column with its state
# and caller, then these headers where present, in this order: what the event is about besides
# a channel (a queue member, a contact, a registration, ...), where the call is going and with
# whom, and then the new state and its reason.
_COLUMN_KEYS = ("Channel", "Device", "Peer", "ParkeeChannel", "TransfererChannel")
_DETAIL_KEYS = (
    # Queues and their members (Asterisk 1.8 to 11 call the member's interface Location).
    "Queue",
    "MemberName",
    "Interface",
    "Location",
    # PJSIP contacts, registrations, mailboxes, conferences, modules, security events.
    "AOR",
    "URI",
    "Username",
    "Domain",
    "Mailbox",
    "Conference",
    "Meetme",
    "Module",
    "AccountID",
    "RemoteAddress",
    "Service",
    # The dialplan, and the other party.
    "Exten",
    "Hint",
    "Application",
    "AppData",
    "DestChannel",
    "DialString",
    "TransfereeChannel",
    "TransferTargetChannel",
    "Extension",
    "BridgeUniqueid",
    "ParkingSpace",
    "Source",
    "Destination",
    # The new state, and why.
    "PeerStatus",
    "ContactStatus",
    "State",
    "Status",
    "StatusText",
    "Paused",
    "PausedReason",
    "InCall",
    "DialStatus",
    "Cause",
    "Cause-txt",
    "Response",
    "Reason",
    "Result",
    "Disposition",
    "BillableSeconds",
    "Digit",
    "Direction",
    "Variable",
    "Value",
    "Position",
    "Count",
    "Waiting",
    "New",
    "Old",
    "Address",
    "UserEvent",
)
# Headers that say nothing about what happened: never shown by the generic fallback.
_BOILERPLATE = frozenset(
    {
        "Event",
        "Privilege",
        "ActionID",
        "SequenceNumber",
        "File",
        "Line",
        "Func",
        "SystemName",
        "Timestamp",
        "EventTV",
        "EventVersion",
        "Severity",
    }
)
# An event this module does not know shows this many of its headers.
_FALLBACK_HEADERS = 6
# Queue member events give the member's device state as a number (enum ast_device_state).
_DEVICE_STATES = (
    "unknown",
    "not in use",
    "in use",
    "busy",
    "invalid",
    "unavailable",
    "ringing",
    "ring in use",
    "on hold",
)


def format_event(event: Message) -> str:
    """One readable line for an event.

    The time and the event's name; the channel (or device, peer) with its state and caller;
    then the headers that identify what the event is about and its new state (``Queue=``,
    ``MemberName=``, ``PeerStatus=``, ``Status=``, ...). A ``UserEvent`` shows its own headers;
    an event with none of the known headers shows its first few.
    """
    name = event.get("Event", "?")
    parts = [time.strftime("%H:%M:%S"), f"{name:<18}"]
    column = next((key for key in _COLUMN_KEYS if event.get(key)), None)
    if column is not None:
        parts.append(f"{event[column]:<26}")
    state = event.get("ChannelStateDesc")
    if state:
        parts.append(f"{state:<8}")
    number, caller = event.get("CallerIDNum"), event.get("CallerIDName")
    if number and number != "<unknown>":
        parts.append(
            f'"{caller}" <{number}>' if caller and caller != "<unknown>" else f"<{number}>"
        )
    details = [(key, event[key]) for key in _DETAIL_KEYS if key != column and event.get(key)]
    if event.get("Exten"):  # Newexten repeats it as Extension; BlindTransfer has only the latter
        details = [(key, value) for key, value in details if key != "Extension"]
    if name.startswith("QueueMember"):
        details = [
            (key, _device_state(value) if key == "Status" else value) for key, value in details
        ]
    if name == "UserEvent":
        details += _after(event, "UserEvent")
    elif column is None and not details:
        details = [(key, value) for key, value in event.headers if key not in _BOILERPLATE]
        details = details[:_FALLBACK_HEADERS]
    parts.extend(f"{key}={value}" for key, value in details)
    return "  ".join(parts)


def _device_state(value: str) -> str:
    if value.isdigit() and int(value) < len(_DEVICE_STATES):
        return f"{value} ({_DEVICE_STATES[int(value)]})"
    return value


def _after(event: Message, key: str) -> list[tuple[str, str]]:
    """The headers after ``key``: a UserEvent's own, which Asterisk writes after its name."""
    headers = list(event.headers)
    names = [name for name, _ in headers]
    if key not in names:
        return []
    return [(name, value) for name, value in headers[names.index(key) + 1 :] if value]


def _print_result(result: ActionResult) -> None:
    for key, value in result.response.headers:
        print(f"{key}: {value}")
    for line in result.output:
        print(line)
    for event in result.events:
        print()
        for key, value in event.headers:
            print(f"{key}: {value}")
    if result.complete is not None:
        print(f"\n({result.items_received} items; {result.complete.name})")


async def _demo(duration: float, calls_per_second: float, seed: int) -> None:
    from .testing import FakeAMIServer, PBXSimulator

    simulator = PBXSimulator(seed=seed)
    server = FakeAMIServer(users={"admin": "demo-secret"}, simulator=simulator)
    async with server.listen_tcp() as (host, port), trio.open_nursery() as nursery:
        nursery.start_soon(lambda: simulator.run(calls_per_second=calls_per_second))
        print(f"simulated PBX listening on {host}:{port}")
        async with open_ami(host, port, username="admin", secret="demo-secret") as ami:
            await _demo_session(ami, duration)
        nursery.cancel_scope.cancel()


async def _demo_session(ami: AMIConnection, duration: float) -> None:
    print(f"logged in: AMI {ami.ami_version}")
    async with ami.subscribe() as events:
        pong = await ami.ping()
        print(f"Ping -> {pong.get('Ping')} ({pong.get('Timestamp')})")
        await trio.sleep(min(1.0, duration / 4))
        channels = await ami.core_show_channels()
        print(f"CoreShowChannels -> {len(channels)} channels")
        for channel in channels[:5]:
            print(f"    {channel['Channel']:<28} {channel.get('ChannelStateDesc', '')}")
        print("Command 'core show channels' ->")
        for line in await ami.command("core show channels"):
            print(f"    {line}")
        call = requests.originate(
            "PJSIP/201",
            context="from-internal",
            exten="100",
            priority=1,
            caller_id="trio-ami demo <555>",
            variables={"CAMPAIGN": "demo"},
            wait=True,
        )
        outcome = await ami.request(call, check=False)  # a busy callee is a result here
        assert outcome.outcome is not None
        print(
            f"Originate (wait) -> {outcome.outcome['Response']} on "
            f"{outcome.outcome.get('Channel')} (reason {outcome.outcome.get('Reason')})"
        )
        print(f"live events for {duration:g} s:")
        with trio.move_on_after(duration):
            async for event in events:
                print(format_event(event))
        stats = events.statistics()
        print(f"{stats.delivered} events shown, {stats.dropped} dropped")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose error messages never show a secret."""

    #: Strings to hide from error messages (set by :func:`_parse_args`).
    secrets: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {_redact(message, self.secrets)}\n")


def _connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", help="the Asterisk server's name or address")
    parser.add_argument(
        "-p", "--port", type=int, default=None, help="AMI port (default: 5038, 5039 with --tls)"
    )
    parser.add_argument(
        "-u", "--username", required=True, help="the AMI user (a section of manager.conf)"
    )
    parser.add_argument("-s", "--secret", default=None, help=_SECRET_HELP)
    parser.add_argument(
        "--auth",
        choices=("md5", "plain"),
        default="md5",
        help="md5: challenge-response, the secret never crosses the network (default); "
        "plain: the secret is sent as it is",
    )
    parser.add_argument("--tls", action="store_true", help="connect with TLS")


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, and the parser of each subcommand by name."""
    parser = _Parser(
        prog="trio-ami",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"trio-ami {__version__}")
    commands = parser.add_subparsers(
        dest="what", required=True, metavar="COMMAND", help="see trio-ami COMMAND --help"
    )
    demo = commands.add_parser(
        "demo",
        help="run the client against a simulated PBX",
        description="Run a simulated PBX on loopback and show the client at work against it: "
        "a few actions, then its live events. Needs no Asterisk.",
    )
    demo.add_argument(
        "--duration", type=float, default=6.0, help="seconds of live events (default: 6)"
    )
    demo.add_argument(
        "--calls-per-second",
        type=float,
        default=2.0,
        help="how many simulated calls start each second (default: 2)",
    )
    demo.add_argument(
        "--seed", type=int, default=5038, help="seed of the simulated traffic (default: 5038)"
    )
    events = commands.add_parser(
        "events",
        help="print a server's live events",
        description="Print a server's live events until interrupted: one line each (the time, "
        "the event, its channel or whatever else it is about, and its new state), or with "
        "--raw each event as the server sent it. When the link is lost (the server restarts, "
        "the network fails, the server stops answering the keepalive Ping) it connects again, "
        "with a growing delay between attempts, and says so on a line of its own: "
        "'--- link lost: <why>', then '--- link back after <N> s' (on stderr with --raw). "
        "Events that happened meanwhile are missed. A refused login ends it (exit status 1).",
        epilog=_EPILOG,
    )
    _connection_args(events)
    events.add_argument(
        "--raw",
        action="store_true",
        help="print each event as received: its Key: Value lines (with the server's CRLF "
        "line ends) and a blank line",
    )
    events.add_argument(
        "--no-reconnect",
        dest="reconnect",
        action="store_false",
        help="end when the link is lost (exit status 1) instead of connecting again",
    )
    events.add_argument(
        "--keepalive",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="send a Ping after this many seconds without traffic; a server that does not "
        "answer it within as long again is taken for gone (default: 20)",
    )
    events.add_argument(
        "names", nargs="*", help="event names or glob patterns such as 'Dial*' (default: all)"
    )
    action = commands.add_parser(
        "action",
        help="run one action and print its result",
        description="Run one action and print the response's headers, then the events of "
        "its list, if it has one. The exit status is 1 if the action failed.",
        epilog=_EPILOG,
    )
    _connection_args(action)
    action.add_argument("action", help="the action, e.g. CoreShowChannels")
    action.add_argument(
        "headers", nargs="*", metavar="Key=Value", help="the action's headers, e.g. Variable=FOO"
    )
    command = commands.add_parser(
        "command",
        help="run a CLI command and print its output",
        description="Run an Asterisk CLI command and print its output on stdout. When Asterisk "
        "refuses the command (no such command, or an error), its text goes to stderr instead "
        "and the exit status is 1.",
        epilog=_EPILOG,
    )
    _connection_args(command)
    command.add_argument("command", help='the command, quoted: "core show channels"')
    scaleout = add_commands(commands, demo)  # collect, work, demo --workers
    return parser, {
        "demo": demo,
        "events": events,
        "action": action,
        "command": command,
        **scaleout,
    }


def _parse_args(argv: Sequence[str], secrets: Sequence[str]) -> argparse.Namespace:
    parser, subparsers = _parsers()
    for each in (parser, *subparsers.values()):
        assert isinstance(each, _Parser)
        each.secrets = secrets
    if argv and argv[0] in subparsers:
        # Intermixed, so that positionals may follow options (`events HOST -u admin Hangup`):
        # argparse's subcommands parse the plain way, where `host` and `names` are taken
        # together at HOST, leaving nothing for `Hangup`.
        args = subparsers[argv[0]].parse_intermixed_args(argv[1:])
        args.what = argv[0]
        bad = [item for item in getattr(args, "headers", ()) if "=" not in item]
        if bad:  # before connecting, not after
            subparsers[argv[0]].error(f"headers are Key=Value, not {bad[0]!r}")
        return args
    return parser.parse_args(argv)  # --help, or an error that says what is wrong


def _secrets_in(argv: Sequence[str]) -> list[str]:
    """The values given to -s/--secret, in every spelling argparse accepts."""
    found = []
    for index, arg in enumerate(argv):
        name, equals, value = arg.partition("=")
        if arg == "-s" or (len(name) > 2 and "--secret".startswith(name)):
            if equals:
                found.append(value)
            elif index + 1 < len(argv):
                found.append(argv[index + 1])
        elif arg.startswith("-s") and not arg.startswith("--"):
            found += [arg[2:], arg[3:]] if arg.startswith("-s=") else [arg[2:]]
    return found


def _redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret, as it is and as ``repr`` escapes it, replaced by ``***``."""
    forms = {form for secret in secrets if secret for form in (secret, repr(secret)[1:-1])}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _ask_secret(args: argparse.Namespace) -> str | None:
    """The secret: --secret, AMI_SECRET, or asked for on the terminal; None without one."""
    if args.secret is not None:
        return str(args.secret)
    from_env = os.environ.get("AMI_SECRET")
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        return None
    try:
        return getpass.getpass(f"AMI secret for {args.username}@{args.host}: ")
    except EOFError:  # Ctrl-D at the prompt
        print(file=sys.stderr)
        return None


async def _run(args: argparse.Namespace) -> int:
    if wants_scaleout(args):
        return await run_command(args)
    if args.what == "demo":
        await _demo(args.duration, args.calls_per_second, args.seed)
        return 0
    if args.what == "events" and args.reconnect:
        await watch_events(args, lambda event: _print_event(event, raw=args.raw))
        return 0
    async with open_ami(
        args.host,
        args.port,
        username=args.username,
        secret=args.secret,
        auth=args.auth,
        tls=args.tls or None,
    ) as ami:
        if args.what == "events":
            async with ami.subscribe(*args.names) as stream:
                async for event in stream:
                    _print_event(event, raw=args.raw)
        elif args.what == "command":
            return await _command(ami, args.command)
        else:
            pairs = [item.split("=", 1) for item in args.headers]
            headers = [(key, value) for key, value in pairs]
            result = await ami.action(args.action, headers, check=False)
            _print_result(result)
            return 0 if result.success else 1
    return 0


def _print_event(event: Event, *, raw: bool) -> None:
    if raw:
        sys.stdout.buffer.write(event.to_bytes())
        sys.stdout.buffer.flush()
    else:
        print(format_event(event), flush=True)


async def _command(ami: AMIConnection, command: str) -> int:
    try:
        lines = await ami.command(command)
    except ActionFailed as error:
        # Asterisk 14 and later: `Response: Error`, with what the CLI printed as Output.
        result = error.result
        lines = result.output if isinstance(result, ActionResult) else []
        if not lines:
            raise  # nothing from the CLI: the error's own message says it
        for line in lines:
            print(line, file=sys.stderr)
        return 1
    if _refused(lines):
        # Asterisk 13 and older answer `Response: Follows` whatever the command.
        for line in lines:
            print(line, file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


def _refused(lines: Sequence[str]) -> bool:
    """Whether the output is the CLI's own answer to a command it does not know."""
    return bool(lines) and (
        lines[0].startswith("No such command '")
        and lines[0].endswith("for other possible commands)")
    )


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside nested groups (a nursery's), without trio's Cancelled."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [] if isinstance(error, trio.Cancelled) else [error]


def _stdout_gone() -> int:
    # Python flushes stdout once more on the way out, which would raise again and print
    # "Exception ignored ... BrokenPipeError": give that flush somewhere to go.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return _EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    secrets = _secrets_in(argv)
    if os.environ.get("AMI_SECRET"):
        secrets.append(os.environ["AMI_SECRET"])
    try:
        args = _parse_args(argv, secrets)
        if args.what not in ("demo", "work"):
            args.secret = _ask_secret(args)
            if args.secret is None:
                print(
                    "trio-ami: no secret: give --secret or set AMI_SECRET (the prompt for it "
                    "needs a terminal)",
                    file=sys.stderr,
                )
                return 2
            secrets.append(args.secret)
        status = trio.run(_run, args)
        sys.stdout.flush()  # a reader that went away shows here, not at exit
    except SystemExit:
        raise
    except BaseException as error:
        # KeyboardInterrupt and BrokenPipeError may come wrapped in a nursery's group.
        leaves = _leaves(error) or [error]
        if all(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            return _EXIT_INTERRUPTED
        if all(isinstance(leaf, BrokenPipeError) for leaf in leaves):
            return _stdout_gone()
        if len(leaves) == 1 and isinstance(leaves[0], AMIError):
            message = f"trio-ami: {type(leaves[0]).__name__}: {leaves[0]}"
        else:  # a bug: keep the traceback, not the secret
            message = "".join(traceback.format_exception(error)).rstrip()
        print(_redact(message, secrets), file=sys.stderr)
        return 1
    return status
