"""The code blocks of README.md and docs/**/*.md, and how the suite runs them.

The convention, for whoever writes documentation:

- Every ```` ```python ```` block runs, alone, against a :class:`~trio_ami.testing.FakeAMIServer`
  on loopback: the host ``pbx.example.com`` resolves to it, and it lets ``admin`` log in with
  the secret ``"..."``. Once logged in, a short call (``Newchannel``, ``DialBegin``,
  ``DialEnd``, ``Hangup``) is pushed, so a block that subscribes has events to read.
- A block that calls ``trio.run(main)`` runs as a program. A block with a top-level ``await``
  (or ``async with``, ``async for``) runs as the body of an open session named ``ami``, with
  ``trio`` and ``trio_ami`` imported. Any other block is executed as it is.
- A block still waiting once everything is idle is interrupted, as with Ctrl-C, if it waits
  for events (every client the block opened with ``open_ami`` or ``open_reconnecting_ami``
  has a subscription, every subscription is read to the end and no action is waiting); a
  block still running after :data:`HUNG_AFTER` seconds fails.
- A block that defines ``async def test_...`` functions has each of them run after it, as
  pytest-trio would.
- ``<!-- file: NAME.py -->`` on the line before a fence says the page saves the block under
  that name: the blocks after it on the same page can import it.
- A block that cannot run says so on the line before its fence, with the reason:
  ``<!-- not-run: REASON -->`` (counted: at most one Python block in three may be marked), or
  ``<!-- excerpt-of: PATH -->`` for lines quoted from a file the suite runs (PATH relative to
  the page; each line of the block, comments aside, must be in that file, in order).
- Code in a block of another language (``sh``, ``console``, none) that imports ``trio_ami``
  is an error: tag it ``python``.
"""

from __future__ import annotations

import ast
import inspect
import re
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeAlias

import attrs
import trio
import trio.testing

import trio_ami
from trio_ami import resilience
from trio_ami.testing import FakeAMIServer

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

ROOT = Path(__file__).resolve().parents[2]
HOST = "pbx.example.com"
USERS = {"admin": "..."}
PYTHON = frozenset({"python", "py", "python3"})
NOT_RUN = "not-run"
EXCERPT = "excerpt-of"
FILE = "file"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^<!--\s*(?P<kind>[a-z-]+):\s*(?P<value>.*?)\s*-->$")
_PYTHON_CODE = re.compile(r"^\s*(import trio_ami|from trio_ami[\w.]* import|async def |def )")

#: The call pushed once a session is logged in: what a block that subscribes gets to read.
CALL = [
    (
        "Newchannel",
        {
            "Channel": "PJSIP/100-00000001",
            "ChannelState": "4",
            "ChannelStateDesc": "Ring",
            "CallerIDNum": "100",
            "CallerIDName": "Alice",
            "Exten": "200",
            "Context": "internal",
            "Uniqueid": "1795672356.1",
            "Linkedid": "1795672356.1",
        },
    ),
    (
        "DialBegin",
        {
            "Channel": "PJSIP/100-00000001",
            "CallerIDNum": "100",
            "DestChannel": "PJSIP/200-00000002",
            "DestCallerIDNum": "200",
            "DialString": "200",
            "Uniqueid": "1795672356.1",
            "Linkedid": "1795672356.1",
        },
    ),
    (
        "DialEnd",
        {
            "Channel": "PJSIP/100-00000001",
            "DestChannel": "PJSIP/200-00000002",
            "DialStatus": "ANSWER",
            "Uniqueid": "1795672356.1",
            "Linkedid": "1795672356.1",
        },
    ),
    (
        "Hangup",
        {
            "Channel": "PJSIP/100-00000001",
            "ChannelStateDesc": "Up",
            "CallerIDNum": "100",
            "CallerIDName": "Alice",
            "Exten": "200",
            "Uniqueid": "1795672356.1",
            "Linkedid": "1795672356.1",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
            "ChanVariable": "BILLSEC=42",
        },
    ),
]


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    marker: tuple[str, str] | None  # (kind, value) of the comment before the fence

    @property
    def where(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"

    @property
    def is_python(self) -> bool:
        return self.language in PYTHON


def pages() -> list[Path]:
    """README.md and every Markdown page of the docs, including ones added later."""
    docs = sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts)
    return [ROOT / "README.md", *docs]


def blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [line[indent:] for line in lines[index + 1 : end]]
        previous = next(
            (lines[i].strip() for i in range(index - 1, -1, -1) if lines[i].strip()), ""
        )
        marker = _MARKER.match(previous)
        language = opening["info"].strip().split(" ")[0].lower()
        yield Block(
            path,
            index + 1,
            language,
            "\n".join(body) + "\n",
            (marker["kind"], marker["value"]) if marker else None,
        )
        index = end + 1


def all_blocks() -> list[Block]:
    return [block for path in pages() for block in blocks(path)]


def misfiled_code(block: Block) -> bool:
    """Python that imports trio-ami, or defines functions, in a block not tagged Python."""
    if block.is_python or block.language.startswith("{"):  # a MyST directive is no code
        return False
    return any(_PYTHON_CODE.match(line) for line in block.code.splitlines())


# -- excerpts -------------------------------------------------------------------------------------
def _without_comment(line: str) -> str:
    """``line`` up to its comment: a ``#`` outside quotes (no escaped quotes in excerpts)."""
    quote = None
    for index, char in enumerate(line):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def _normalized(line: str) -> str:
    """A line as an excerpt is compared: no comment, no indent, a definition by its name only
    (an excerpt may leave out the annotations)."""
    code = _without_comment(line).strip()
    definition = re.match(r"((async )?def \w+\()", code)
    return definition.group(1) if definition else code


def missing_excerpt_lines(block: Block, source: Path) -> list[str]:
    """The lines of ``block`` that are not in ``source``, in order ([] if all are)."""
    wanted = [_normalized(line) for line in block.code.splitlines()]
    wanted = [line for line in wanted if line and line != "..."]
    have = iter(_normalized(line) for line in source.read_text().splitlines())
    return [line for line in wanted if not any(line == each for each in have)]


# -- running ---------------------------------------------------------------------------------------
_IPv4 = Literal[socket.AddressFamily.AF_INET]
_IPv6 = Literal[socket.AddressFamily.AF_INET6]
#: What a trio hostname resolver returns.
AddressInfo: TypeAlias = list[
    tuple[_IPv4, socket.SocketKind, int, str, tuple[str, int]]
    | tuple[_IPv6, socket.SocketKind, int, str, tuple[str, int, int, int] | tuple[int, bytes]]
]


class Redirect(trio.abc.HostnameResolver):
    """Resolves :data:`HOST`, at any port, to the fake server; nothing else."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> AddressInfo:
        name = host.decode() if isinstance(host, bytes) else host
        if name != HOST:
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: only {HOST} resolves here")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", self.address)]

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        raise NotImplementedError


@attrs.define
class Run:
    """What happened when a block ran."""

    connections: list[Any] = attrs.Factory(list)  # the clients the block opened
    interrupted: bool = False
    tests: list[str] = attrs.Factory(list)  # the test functions it defined and ran
    server: FakeAMIServer | None = None


class BlockHung(AssertionError):
    pass


#: How long a block may run before it counts as hung: a bound, not a measure of speed.
HUNG_AFTER = 60


def waiting_for_events(run: Run) -> bool:
    """Every open client waits for events only: subscribed, read to the end, no action waiting.

    A client is a connection or a reconnecting client (whose current link is in its
    statistics, and which waits for nothing else while it is between links).
    """
    open_clients = [client for client in run.connections if not finished(client)]
    if not open_clients:
        return False
    for client in open_clients:
        stats = client.statistics()
        link = getattr(stats, "connection", stats)
        if link is None or link.waiting_actions or not stats.subscriptions:
            return False
        if any(each.buffered for each in stats.subscriptions):
            return False
    return True


def finished(client: Any) -> bool:
    if isinstance(client, trio_ami.AMIConnection):
        return client.closed
    return bool(client.state in ("failed", "closed"))


async def serve_block(run: Run, body: Callable[[], Awaitable[object]]) -> None:
    """Run ``body`` with the fake server behind :data:`HOST`; interrupt it once it only waits
    for events."""
    server = FakeAMIServer(users=USERS)
    run.server = server
    async with server.listen_tcp() as address:
        trio.socket.set_custom_hostname_resolver(Redirect(address))
        try:
            with trio.fail_after(HUNG_AFTER):
                await run_until_idle(run, server, body)
        except BaseExceptionGroup as group:
            raise only_error(group) from None  # the block's own error, as the block raised it
        except trio.TooSlowError:
            raise BlockHung(f"still running after {HUNG_AFTER} s, not waiting for events") from None
        finally:
            trio.socket.set_custom_hostname_resolver(None)


def only_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error in the harness's group, or the group when there are several."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    return leaves[0] if len(leaves) == 1 else group


async def run_until_idle(
    run: Run, server: FakeAMIServer, body: Callable[[], Awaitable[object]]
) -> None:
    async with trio.open_nursery() as nursery:
        finished = trio.Event()

        async def block() -> None:
            await body()
            finished.set()

        async def call() -> None:
            await server.wait_for_sessions(1)
            for name, headers in CALL:
                server.push_event(name, headers)

        nursery.start_soon(call)
        nursery.start_soon(block)
        while not finished.is_set():
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            if not finished.is_set() and waiting_for_events(run):
                run.interrupted = True
                break
        nursery.cancel_scope.cancel()


def recording(run: Run, open_client: Callable[..., Any]) -> Callable[..., Any]:
    """``open_client`` (``open_ami``, ``open_reconnecting_ami``), noting each client it opens
    in ``run``."""

    @asynccontextmanager
    async def opening(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async with open_client(*args, **kwargs) as client:
            run.connections.append(client)
            yield client

    return opening


def run_block(block: Block, monkeypatch: Any, workdir: Path) -> Run:
    """Run a Python block as the convention above says; return what happened.

    The ``file:`` blocks before it on its page are saved in ``workdir``, which is put on the
    path.
    """
    for earlier in blocks(block.path):
        if earlier.line >= block.line:
            break
        if earlier.marker and earlier.marker[0] == FILE:
            (workdir / earlier.marker[1]).write_text(earlier.code)
            monkeypatch.delitem(sys.modules, earlier.marker[1].removesuffix(".py"), raising=False)
    monkeypatch.syspath_prepend(str(workdir))
    run = Run()
    real_run = trio.run
    monkeypatch.setattr(trio_ami, "open_ami", recording(run, trio_ami.open_ami))
    monkeypatch.setattr(
        resilience,
        "open_reconnecting_ami",
        recording(run, resilience.open_reconnecting_ami),
    )
    code = compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    if code.co_flags & inspect.CO_COROUTINE:

        async def session() -> None:
            async with trio_ami.open_ami(HOST, username="admin", secret=USERS["admin"]) as ami:
                namespace.update(ami=ami, trio=trio, trio_ami=trio_ami)
                await eval(code, namespace)

        real_run(serve_block, run, session)
        return run

    def run_program(async_fn: Callable[..., Awaitable[object]], *args: object) -> None:
        real_run(serve_block, run, lambda: async_fn(*args))

    monkeypatch.setattr(trio, "run", run_program)
    exec(code, namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.iscoroutinefunction(value):
            real_run(serve_block, run, value)
            run.tests.append(name)
    return run
