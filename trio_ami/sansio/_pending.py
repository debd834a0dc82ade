"""Actions waiting for their result, and the classic lists' closing events.

How an action completes is declared when it is sent (see ``ClientProtocol.send_action``); a
:class:`PendingAction` gathers what arrives for it until then.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._actions import Action
from ._messages import Event, Response
from ._state import Input

__all__ = ["LIST_ACTIONS", "PendingAction"]

#: Classic list actions and the event that ends their list, lower-case action name first. Used
#: when a response does not announce its list with ``EventList: start`` (older Asterisk).
LIST_ACTIONS: Mapping[str, str] = {
    "agents": "AgentsComplete",
    "bridgeinfo": "BridgeInfoComplete",
    "bridgelist": "BridgeListComplete",
    "bridgetechnologylist": "BridgeTechnologyListComplete",
    "confbridgelist": "ConfbridgeListComplete",
    "confbridgelistrooms": "ConfbridgeListRoomsComplete",
    "coreshowchannelmap": "CoreShowChannelMapComplete",
    "coreshowchannels": "CoreShowChannelsComplete",
    "dahdishowchannels": "DAHDIShowChannelsComplete",
    "devicestatelist": "DeviceStateListComplete",
    "extensionstatelist": "ExtensionStateListComplete",
    "iaxpeerlist": "PeerlistComplete",
    "iaxpeers": "PeerlistComplete",
    "iaxregistry": "RegistrationsComplete",
    "meetmelist": "MeetmeListComplete",
    "meetmelistrooms": "MeetmeListRoomsComplete",
    "parkedcalls": "ParkedCallsComplete",
    "parkinglots": "ParkinglotsComplete",
    "pjsipshowaors": "AorListComplete",
    "pjsipshowauths": "AuthListComplete",
    "pjsipshowcontacts": "ContactListComplete",
    "pjsipshowendpoint": "EndpointDetailComplete",
    "pjsipshowendpoints": "EndpointListComplete",
    "pjsipshowregistrationsinbound": "InboundRegistrationDetailComplete",
    "pjsipshowregistrationsoutbound": "OutboundRegistrationDetailComplete",
    "pjsipshowsubscriptionsinbound": "InboundSubscriptionDetailComplete",
    "pjsipshowsubscriptionsoutbound": "OutboundSubscriptionDetailComplete",
    "presencestatelist": "PresenceStateListComplete",
    "queuestatus": "QueueStatusComplete",
    "queuesummary": "QueueSummaryComplete",
    "showdialplan": "ShowDialPlanComplete",
    "sippeers": "PeerlistComplete",
    "sipshowregistry": "RegistrationsComplete",
    "status": "StatusComplete",
    "voicemailuserslist": "VoicemailUserEntryComplete",
}


@attrs.define(eq=False)
class PendingAction:
    """An action sent and not yet complete: what has come for it so far."""

    action: Action
    purpose: Input  # SEND_ACTION, SEND_LOGIN, SEND_CHALLENGE or SEND_LOGOFF
    complete_on: str | None  # lower-case name of the event ending the list, when known
    outcome_event: str | None  # lower-case name of the event reporting the outcome
    stream: bool
    max_items: int  # items collected before the action fails with ListTooLong
    response: Response | None = None
    in_list: bool = False
    events: list[Event] = attrs.Factory(list)
    items: int = 0
    complete: Event | None = None  # the event that closed the list (it may precede the response)
    outcome: Event | None = None
    abandoned: bool = False

    @property
    def claims_events(self) -> bool:
        """Whether events carrying this ActionID belong to this action rather than to everyone."""
        return (
            self.in_list
            or self.outcome_event is not None
            or (self.response is None and self.complete_on is not None)
        )
