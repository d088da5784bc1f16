import pytest

from servegate.endpoint_config import (
    Route,
    ServedEntitySpec,
    build_endpoint_config,
    validate_endpoint_name,
)
from servegate.errors import InvalidParameterValue


def entity(name: str, version: str = "1") -> ServedEntitySpec:
    return ServedEntitySpec(name=name, entity_name="m", entity_version=version)


def test_single_entity_defaults_to_all_traffic() -> None:
    config = build_endpoint_config([entity("a")], None)
    assert config.routes == (Route("a", 100),)


@pytest.mark.parametrize(
    ("routes", "fragment"),
    [
        ([Route("a", 50), Route("b", 40)], "add up to 90"),
        ([Route("a", 50), Route("c", 50)], "'c', which is not in this config"),
        ([Route("a", 50), Route("a", 50)], "more than once"),
        ([Route("a", 150), Route("b", -50)], "from 0 to 100"),
    ],
)
def test_bad_routes_are_named(routes: list[Route], fragment: str) -> None:
    with pytest.raises(InvalidParameterValue, match=fragment):
        build_endpoint_config([entity("a"), entity("b", "2")], routes)


def test_several_entities_need_a_traffic_config() -> None:
    with pytest.raises(InvalidParameterValue, match="traffic_config is required"):
        build_endpoint_config([entity("a"), entity("b", "2")], None)


def test_limits_and_names() -> None:
    with pytest.raises(InvalidParameterValue, match="at most 10"):
        build_endpoint_config([entity(f"e{i}") for i in range(11)], None)
    with pytest.raises(InvalidParameterValue, match="more than once"):
        build_endpoint_config([entity("a"), entity("a", "2")], [Route("a", 100)])
    with pytest.raises(InvalidParameterValue, match="at least one"):
        build_endpoint_config([], None)
    ten = [entity(f"e{i}") for i in range(10)]
    routes = [Route(f"e{i}", 10) for i in range(10)]
    assert len(build_endpoint_config(ten, routes).served_entities) == 10


@pytest.mark.parametrize("name", ["", "a" * 64, "has space", "dots.not.allowed", "slash/x"])
def test_invalid_endpoint_names(name: str) -> None:
    with pytest.raises(InvalidParameterValue, match="1 to 63 characters"):
        validate_endpoint_name(name)


def test_valid_endpoint_names() -> None:
    for name in ("a", "churn-model_2", "X" * 63):
        assert validate_endpoint_name(name) == name
