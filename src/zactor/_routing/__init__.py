"""Routers: actors that pass messages on to routees chosen by a routing logic.

``system.spawn(Router, RoundRobin(), pool=Pool(Worker, 4))`` spawns a router and
four routees as its children; ``routees=[...]`` routes to existing actors. The
logics are :class:`RoundRobin`, :class:`Random`, :class:`Broadcast`,
:class:`ConsistentHashing`, :class:`SmallestMailbox`, :class:`Balancing` and
:class:`ScatterGatherFirstCompleted`; subclass :class:`RoutingLogic` for more.
"""

from __future__ import annotations

from zactor._errors import NoRouteesError

from .balancing import Balancing
from .logic import (
    Broadcast,
    ConsistentHashing,
    Random,
    RoundRobin,
    RoutingLogic,
    SmallestMailbox,
)
from .messages import AddRoutee, GetRoutees, RemoveRoutee, Resize, ToAllRoutees
from .router import Pool, Router
from .scatter import ScatterGatherFirstCompleted

__all__ = [
    "AddRoutee",
    "Balancing",
    "Broadcast",
    "ConsistentHashing",
    "GetRoutees",
    "NoRouteesError",
    "Pool",
    "Random",
    "RemoveRoutee",
    "Resize",
    "RoundRobin",
    "Router",
    "RoutingLogic",
    "ScatterGatherFirstCompleted",
    "SmallestMailbox",
    "ToAllRoutees",
]
