"""Wake requests (from gateways that do not lead) and endpoint events, on SQLite and PostgreSQL."""

from __future__ import annotations

from servegate.endpoint_config import EndpointConfig, Route, ServedEntitySpec
from servegate.store.database import Database
from servegate.store.endpoint_events import EndpointEventStore
from servegate.store.endpoints import EndpointStore
from servegate.store.principals import ADMIN_ID
from servegate.store.wake_requests import WakeRequestStore


def test_wake_requests_are_taken_once(database: Database) -> None:
    wakes = WakeRequestStore(database)
    assert wakes.take() == []
    wakes.request("e1", "a")
    wakes.request("e1", "a")  # asked again while waiting: still one request
    wakes.request("e1", "b")
    wakes.request("e2", "a")
    assert sorted(wakes.take()) == [("e1", "a"), ("e1", "b"), ("e2", "a")]
    assert wakes.take() == [], "taken requests are gone"


def test_events_are_kept_per_endpoint_and_go_with_it(database: Database) -> None:
    endpoints = EndpointStore(database)
    config = EndpointConfig((ServedEntitySpec("m", "churn", "1"),), (Route("m", 100),))
    one = endpoints.create("one", "ana", ADMIN_ID, config)
    two = endpoints.create("two", "ana", ADMIN_ID, config)
    events = EndpointEventStore(database)
    for index in range(5):
        events.add(one.id, "SCALED_UP", f"up {index}", "m")
    events.add(two.id, "CONFIG_UPDATED", "Config version 1 is serving.")

    listed = events.list(one.id, limit=3)
    assert [event.message for event in listed] == ["up 2", "up 3", "up 4"], "newest, oldest first"
    assert {event.served_name for event in listed} == {"m"}
    assert [event.event_type for event in events.list(two.id)] == [
        "CONFIG_UPDATE_REQUESTED",  # written with the endpoint, in its transaction
        "CONFIG_UPDATED",
    ]
    assert events.list(two.id)[0].message == "Created by ana: config version 1 with m (churn 1)."
    endpoints.delete("one")
    assert events.list(one.id) == []
