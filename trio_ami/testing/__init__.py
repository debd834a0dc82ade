"""Test helpers: a fake Asterisk Manager Interface server and a simulated PBX.

::

    from trio_ami.testing import FakeAMIServer, PBXSimulator

    server = FakeAMIServer(users={"admin": "secret"}, simulator=PBXSimulator(seed=1))
    async with server.listen_tcp() as (host, port):
        ...  # point the code under test at host:port
        server.push_event("Hangup", {"Channel": "PJSIP/100-00000001", "Cause": "16"})

The server answers like a real Asterisk (banner, logins, ``Permission denied`` before login,
event lists, both ``Command`` formats, ``OriginateResponse``...), can be scripted per action
(:meth:`FakeAMIServer.set_handler`, :meth:`FakeAMIServer.set_reply`) and made to misbehave
(stalls, disconnects, half packets, slow writes, replayed captures).
"""

from ._captures import Capture, load_capture
from ._filters import EventFilter, FilterError
from ._server import FakeAMIServer, FakeSession, Handler, HandlerResult, Reply
from ._simulator import OUTCOMES, PBXSimulator, SimChannel

__all__ = [
    "OUTCOMES",
    "Capture",
    "EventFilter",
    "FakeAMIServer",
    "FakeSession",
    "FilterError",
    "Handler",
    "HandlerResult",
    "PBXSimulator",
    "Reply",
    "SimChannel",
    "load_capture",
]
