"""The client session's states and every transition between them, in one table.

``docs/sansio.md`` draws the state diagram from :data:`TRANSITIONS`. An input that the table does
not allow in the current state is an error: a local input (something the caller asked to send)
raises ``LocalProtocolError`` and changes nothing; a remote input (something the server sent)
is a ``RemoteProtocolError`` that ends the session.
"""

from __future__ import annotations

import enum

__all__ = ["ENDING_INPUTS", "LOCAL_INPUTS", "TRANSITIONS", "Ending", "Input", "State"]


class State(enum.Enum):
    """Where an AMI client session stands."""

    AWAITING_BANNER = "awaiting banner"  # connected, the server has not greeted yet
    CONNECTED = "connected"  # greeted, not logged in: only login, logoff and plain actions
    CHALLENGE_SENT = "challenge sent"  # MD5 login: waiting for the challenge
    LOGIN_SENT = "login sent"  # waiting for the answer to Login
    READY = "ready"  # logged in: actions and events flow
    LOGGING_OFF = "logging off"  # Logoff sent: waiting for Goodbye
    LOGGING_OFF_BEFORE_LOGIN = "logging off before login"  # the same, sent before logging in
    CLOSED = "closed"  # ended without an error (Goodbye, end of stream, refused login, closed)
    ERROR = "error"  # ended by an error: the server broke the protocol, or the transport broke


class Ending(enum.Enum):
    """How a session ended: what :class:`ConnectionTerminated` and ``ConnectionClosed`` report."""

    LOGGED_OFF = "logged off"  # our Logoff was answered with Goodbye
    CLOSED_BY_SERVER = "closed by the server"  # end of stream, or a Goodbye nobody asked for
    LOGIN_REFUSED = "login refused"
    PROTOCOL_ERROR = "protocol error"  # the server sent something that is not valid AMI
    TRANSPORT_ERROR = "transport error"  # the connection broke underneath the session
    CLOSED_LOCALLY = "closed locally"  # this side closed without a Goodbye

    @property
    def clean(self) -> bool:
        """True when this side ended the session: nothing was lost that it did not give up."""
        return self in (Ending.LOGGED_OFF, Ending.CLOSED_LOCALLY)


class Input(enum.Enum):
    """What moves a session: things the caller sends and things the server sends."""

    # sent by the caller
    SEND_CHALLENGE = "send Challenge"
    SEND_LOGIN = "send Login"
    SEND_ACTION = "send action"
    SEND_LOGOFF = "send Logoff"
    CLOSE = "close"  # the caller closes the transport without logging off
    TRANSPORT_FAILED = "transport failed"  # the caller saw the transport break
    # received from the server
    BANNER = "banner"
    CHALLENGE_ANSWERED = "challenge answered"
    LOGIN_ACCEPTED = "login accepted"
    LOGIN_REFUSED = "login refused"
    RESPONSE = "response"
    EVENT = "event"
    GOODBYE = "goodbye"
    LOGOFF_REFUSED = "logoff refused"
    END_OF_STREAM = "end of stream"
    BROKEN_STREAM = "broken stream"


LOCAL_INPUTS = frozenset(
    {
        Input.SEND_CHALLENGE,
        Input.SEND_LOGIN,
        Input.SEND_ACTION,
        Input.SEND_LOGOFF,
        Input.CLOSE,
        Input.TRANSPORT_FAILED,
    }
)
#: Local inputs that end a live session and do nothing once it is over (closing twice is fine).
ENDING_INPUTS = frozenset({Input.CLOSE, Input.TRANSPORT_FAILED})

_S = State
_I = Input
_LIVE = (_S.AWAITING_BANNER, _S.CONNECTED, _S.CHALLENGE_SENT, _S.LOGIN_SENT, _S.READY,
         _S.LOGGING_OFF, _S.LOGGING_OFF_BEFORE_LOGIN)  # fmt: skip

#: (state, input) -> next state. Anything missing is not allowed.
TRANSITIONS: dict[tuple[State, Input], State] = {
    (_S.AWAITING_BANNER, _I.BANNER): _S.CONNECTED,
    # Before login the server answers actions (with "Permission denied") and Logoff.
    (_S.CONNECTED, _I.SEND_CHALLENGE): _S.CHALLENGE_SENT,
    (_S.CONNECTED, _I.SEND_LOGIN): _S.LOGIN_SENT,
    (_S.CONNECTED, _I.SEND_ACTION): _S.CONNECTED,
    (_S.CONNECTED, _I.SEND_LOGOFF): _S.LOGGING_OFF_BEFORE_LOGIN,
    (_S.CONNECTED, _I.RESPONSE): _S.CONNECTED,
    (_S.CHALLENGE_SENT, _I.CHALLENGE_ANSWERED): _S.LOGIN_SENT,
    (_S.CHALLENGE_SENT, _I.LOGIN_REFUSED): _S.CLOSED,
    (_S.CHALLENGE_SENT, _I.RESPONSE): _S.CHALLENGE_SENT,
    (_S.LOGIN_SENT, _I.LOGIN_ACCEPTED): _S.READY,
    (_S.LOGIN_SENT, _I.LOGIN_REFUSED): _S.CLOSED,
    (_S.LOGIN_SENT, _I.RESPONSE): _S.LOGIN_SENT,
    (_S.READY, _I.SEND_ACTION): _S.READY,
    (_S.READY, _I.SEND_LOGOFF): _S.LOGGING_OFF,
    (_S.READY, _I.RESPONSE): _S.READY,
    (_S.READY, _I.EVENT): _S.READY,
    (_S.LOGGING_OFF, _I.RESPONSE): _S.LOGGING_OFF,
    (_S.LOGGING_OFF, _I.EVENT): _S.LOGGING_OFF,
    (_S.LOGGING_OFF, _I.GOODBYE): _S.CLOSED,
    (_S.LOGGING_OFF_BEFORE_LOGIN, _I.RESPONSE): _S.LOGGING_OFF_BEFORE_LOGIN,
    (_S.LOGGING_OFF_BEFORE_LOGIN, _I.GOODBYE): _S.CLOSED,
    # A Logoff answered with an error leaves the session where it was before the Logoff.
    (_S.LOGGING_OFF, _I.LOGOFF_REFUSED): _S.READY,
    (_S.LOGGING_OFF_BEFORE_LOGIN, _I.LOGOFF_REFUSED): _S.CONNECTED,
    # The server says Goodbye only to a Logoff, but once it has, the session is over.
    (_S.CONNECTED, _I.GOODBYE): _S.CLOSED,
    (_S.READY, _I.GOODBYE): _S.CLOSED,
    **{(state, _I.END_OF_STREAM): _S.CLOSED for state in _LIVE},
    **{(state, _I.BROKEN_STREAM): _S.ERROR for state in _LIVE},
    **{(state, _I.CLOSE): _S.CLOSED for state in _LIVE},
    **{(state, _I.TRANSPORT_FAILED): _S.ERROR for state in _LIVE},
}
