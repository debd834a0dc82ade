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
(stalls, disconnects, half packets, lists cut short, slow writes, restarts, black holes,
refused logins, replayed captures).

The layers, each importing only those before it: ``_wire`` (packets, classes, masks: pure),
``_filters``, ``_settings``, ``_captures`` (recordings), ``_pbx`` (the model),
``_simulator`` (calls over time, on the model), ``_actions`` (the built-in actions, by topic,
in one registry), ``_session`` (one connection), ``_faults`` (a server's restarts, black
holes, refused logins), ``_server``.
"""

from ._captures import Capture, ReplayScript, load_capture
from ._filters import EventFilter, FilterError
from ._pbx import PBX, SimChannel
from ._server import FakeAMIServer, Handler, ServerStatistics
from ._session import FakeSession
from ._settings import ServerSettings
from ._simulator import OUTCOMES, PBXSimulator
from ._wire import HandlerResult, Reply

__all__ = [
    "OUTCOMES",
    "PBX",
    "Capture",
    "EventFilter",
    "FakeAMIServer",
    "FakeSession",
    "FilterError",
    "Handler",
    "HandlerResult",
    "PBXSimulator",
    "Reply",
    "ReplayScript",
    "ServerSettings",
    "ServerStatistics",
    "SimChannel",
    "load_capture",
]
