"""Lead or follow: what one gateway process does about replicas and routing.

The process holding the leader lease runs the reconciler (starts replicas, publishes
routing, shares it through the store). Every other process follows the shared snapshot and
tries for the lease again every second, so one takes over soon after the leader dies.
A process that finds the lease lost stops its replicas at once: never two leaders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from servegate.gateway.routing import RoutingTable
from servegate.gateway.shared_routing import RoutingFollower
from servegate.reconciler.leadership import Lease
from servegate.reconciler.loop import Reconciler
from servegate.store.wake_requests import WakeRequestStore

logger = logging.getLogger(__name__)

LEASE_RETRY_S = 1.0
LEASE_CHECK_S = 1.0


class GatewayRole:
    def __init__(
        self,
        lease: Lease,
        make_reconciler: Callable[[], Reconciler],
        follower: RoutingFollower,
        routing: RoutingTable,
        wake_requests: WakeRequestStore,
        leading_begins: Callable[[], None],
    ) -> None:
        """``leading_begins``: run (in a thread) whenever this process takes the lead."""
        self.lease = lease
        self.leading_begins = leading_begins
        self._holds_lease = False
        self.wake_requests = wake_requests
        self.make_reconciler = make_reconciler
        self.follower = follower
        self.routing = routing
        self.reconciler: Reconciler | None = None

    def wake(self, *, reread_registry: bool = False) -> None:
        """After a control-plane change: the leader acts now; a follower's leader within
        its next pass."""
        if self.reconciler is not None:
            self.reconciler.wake(reread_registry=reread_registry)

    async def wake_entity(self, endpoint_id: str, served_name: str) -> None:
        """A request waits for a served entity with no replica ready (scaled to zero): the
        leader starts one now; a follower asks the leader through the store."""
        if self.reconciler is not None:
            self.reconciler.wake_entity(endpoint_id, served_name)
        else:
            await asyncio.to_thread(self.wake_requests.request, endpoint_id, served_name)

    async def begin(self) -> None:
        """The first try for the lease, before the gateway answers anything: a process that
        leads marks the served entities as starting at once, not a request later."""
        if await asyncio.to_thread(self.lease.try_acquire):
            await asyncio.to_thread(self.leading_begins)
            self._holds_lease = True

    async def run(self) -> None:
        while True:
            if self._holds_lease:
                self._holds_lease = False
                await self._lead()
            elif await asyncio.to_thread(self.lease.try_acquire):
                await asyncio.to_thread(self.leading_begins)
                await self._lead()
            else:
                self.routing.follow(self.follower.catch_up)
                await self.follower.follow(LEASE_RETRY_S)

    async def _lead(self) -> None:
        logger.info("this gateway process leads: it runs the replicas")
        self.routing.follow(None)
        self.follower.forget()
        reconciler = self.reconciler = self.make_reconciler()
        task = asyncio.create_task(reconciler.run())
        try:
            while await asyncio.to_thread(self.lease.held):
                await asyncio.sleep(LEASE_CHECK_S)
            logger.error("lost the leader lease; stopping this process's replicas")
        finally:  # also when the process stops: shutdown() then stops the replicas
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_leading()

    async def _stop_leading(self) -> None:
        if self.reconciler is not None:
            reconciler, self.reconciler = self.reconciler, None
            await reconciler.shutdown()

    async def shutdown(self) -> None:
        """When the process stops (after ``run`` was cancelled): stop replicas, let go."""
        await self._stop_leading()
        await asyncio.to_thread(self.lease.release)
        await self.follower.clients.close()
