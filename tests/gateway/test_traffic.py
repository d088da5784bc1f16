import random
from collections import Counter

from servegate.gateway.traffic import choose_served

ROUTES = (("a", 80), ("b", 20))


def test_split_follows_percentages() -> None:
    draws = random.Random(7)
    counts = Counter(choose_served(ROUTES, {"a", "b"}, draws.random()) for _ in range(10_000))
    assert abs(counts["a"] / 10_000 - 0.80) < 0.02
    assert abs(counts["b"] / 10_000 - 0.20) < 0.02


def test_boundaries_of_the_draw() -> None:
    assert choose_served(ROUTES, {"a", "b"}, 0.0) == "a"
    assert choose_served(ROUTES, {"a", "b"}, 0.7999) == "a"
    assert choose_served(ROUTES, {"a", "b"}, 0.8) == "b"
    assert choose_served(ROUTES, {"a", "b"}, 0.999999) == "b"


def test_unavailable_model_gives_its_share_to_the_others() -> None:
    assert {choose_served(ROUTES, {"b"}, d / 10) for d in range(10)} == {"b"}


def test_zero_percent_models_get_no_traffic() -> None:
    routes = (("a", 100), ("shadow", 0))
    assert {choose_served(routes, {"a", "shadow"}, d / 10) for d in range(10)} == {"a"}
    assert choose_served(routes, {"shadow"}, 0.5) is None


def test_nothing_available() -> None:
    assert choose_served(ROUTES, set(), 0.3) is None
