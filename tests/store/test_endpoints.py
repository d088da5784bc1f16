from concurrent.futures import ThreadPoolExecutor

import pytest

from servegate.endpoint_config import Route, ServedEntitySpec, build_endpoint_config
from servegate.errors import ResourceAlreadyExists, ResourceConflict, ResourceDoesNotExist
from servegate.states import ConfigStatus, ConfigUpdate, Deployment
from servegate.store.database import Database
from servegate.store.endpoints import EndpointStore
from servegate.store.principals import ADMIN_ID


def config(*versions: str):  # type: ignore[no-untyped-def]
    entities = [
        ServedEntitySpec(name=f"m-{v}", entity_name="m", entity_version=v) for v in versions
    ]
    routes = None
    if len(versions) > 1:
        share = 100 // len(versions)
        routes = [Route(e.name, share) for e in entities]
        routes[0] = Route(entities[0].name, 100 - share * (len(versions) - 1))
    return build_endpoint_config(entities, routes)


def test_create_get_list_delete(database: Database) -> None:
    store = EndpointStore(database)
    created = store.create("churn", "alice", ADMIN_ID, config("1", "2"), "desc", {"team": "ml"})
    assert created.config_update == ConfigUpdate.IN_PROGRESS.value
    assert created.pending_version == 1 and created.active_version is None
    [row] = created.configs
    assert [e.name for e in row.entities] == ["m-1", "m-2"]
    assert {t.key: t.value for t in created.tags} == {"team": "ml"}
    assert [e.name for e in store.list()] == ["churn"]
    with pytest.raises(ResourceAlreadyExists):
        store.create("churn", "bob", ADMIN_ID, config("1"))
    store.delete("churn")
    with pytest.raises(ResourceDoesNotExist):
        store.get("churn")
    assert store.list() == []


def test_update_lifecycle(database: Database) -> None:
    store = EndpointStore(database)
    endpoint = store.create("e", "alice", ADMIN_ID, config("1"))
    with pytest.raises(ResourceConflict):
        store.update_config("e", "alice", config("2"))
    assert store.promote(endpoint.id, 1)
    updated = store.update_config("e", "alice", config("2"))
    assert (updated.active_version, updated.pending_version) == (1, 2)
    assert store.fail_pending(endpoint.id, 2)
    failed = store.get("e")
    assert failed.config_update == ConfigUpdate.UPDATE_FAILED.value
    assert failed.active_version == 1
    assert {c.version: c.status for c in failed.configs} == {
        1: ConfigStatus.ACTIVE.value,
        2: ConfigStatus.FAILED.value,
    }
    store.update_config("e", "alice", config("3"))
    assert store.promote(endpoint.id, 3)
    final = store.get("e")
    assert (final.active_version, final.pending_version, final.config_update) == (
        3,
        None,
        ConfigUpdate.NOT_UPDATING.value,
    )
    assert not store.promote(endpoint.id, 2), "a superseded config is never promoted"


def test_entity_state_and_tags(database: Database) -> None:
    store = EndpointStore(database)
    endpoint = store.create("e", "alice", ADMIN_ID, config("1"))
    entity_id = endpoint.configs[0].entities[0].id
    store.set_entity_state(entity_id, Deployment.READY, "Serving.", "1")
    entity = store.get("e").configs[0].entities[0]
    assert (entity.deployment_state, entity.state_message) == ("DEPLOYMENT_READY", "Serving.")
    tags = store.patch_tags("e", {"a": "1", "b": None}, [])
    assert [(t.key, t.value) for t in tags] == [("a", "1"), ("b", None)]
    tags = store.patch_tags("e", {"a": "2"}, ["b", "missing"])
    assert [(t.key, t.value) for t in tags] == [("a", "2")]


def test_a_new_leader_marks_ready_entities_as_starting(database: Database) -> None:
    store = EndpointStore(database)
    ready = store.create("ready", "alice", ADMIN_ID, config("1")).configs[0].entities[0].id
    failed = store.create("failed", "alice", ADMIN_ID, config("1")).configs[0].entities[0].id
    store.set_entity_state(ready, Deployment.READY, "Serving.", "1")
    store.set_entity_state(failed, Deployment.FAILED, "Broken.", "1")
    store.mark_restarting()
    entity = store.get("ready").configs[0].entities[0]
    assert entity.deployment_state == "DEPLOYMENT_CREATING"
    assert "gateway started" in entity.state_message
    assert store.get("failed").configs[0].entities[0].deployment_state == "DEPLOYMENT_FAILED"


def test_concurrent_updates_exactly_one_wins(database: Database) -> None:
    store = EndpointStore(database)
    endpoint = store.create("e", "alice", ADMIN_ID, config("1"))
    store.promote(endpoint.id, 1)

    def attempt(version: str) -> str:
        try:
            store.update_config("e", "alice", config(version))
            return "ok"
        except ResourceConflict:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, [str(v) for v in range(2, 18)]))
    assert outcomes.count("ok") == 1
    final = store.get("e")
    assert final.pending_version == final.last_version
    assert len(final.configs) == 2


def test_concurrent_creates_no_duplicates(database: Database) -> None:
    store = EndpointStore(database)

    def attempt(_: int) -> str:
        try:
            store.create("same", "alice", ADMIN_ID, config("1"))
            return "ok"
        except ResourceAlreadyExists:
            return "exists"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("ok") == 1
    assert len(store.list()) == 1
