"""The actor whose code runs now, per thread and per asyncio task.

Dispatchers set it around each turn; a tell made without an explicit sender uses
it, so that the receiver's ``context.sender`` is the actor that sent the message.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._ref import ActorRef

current_ref: contextvars.ContextVar[ActorRef | None] = contextvars.ContextVar(
    "zactor_current_ref", default=None
)
