"""The replica's feature stage against a real SQLite online store: lookups, overrides,
missing keys both ways, on-demand functions, and an unreachable store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from servegate.errors import InvalidParameterValue, TemporarilyUnavailable
from servegate.features import FeatureFunction, FeatureLookup, FeatureSpec
from servegate.features.join import FeatureJoiner
from servegate.features.online import open_online_store
from servegate.features.spec import lookups_of
from servegate.features.tables import FeatureTable, rows_of
from tests.ports import free_port

SPEND = FeatureTable(
    "spend",
    ("customer_id",),
    {"customer_id": "long", "spend_30d": "double", "orders": "integer"},
    id="t1",
)
CARDS = FeatureTable(
    "cards", ("card", "bank"), {"card": "string", "bank": "integer", "limit": "double"}, id="t2"
)


def ratio(amount: float, spend: float | None) -> float | None:
    return None if spend is None else amount / (spend + 1)


@pytest.fixture
def joiner(tmp_path: Path) -> FeatureJoiner:
    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    spend = pd.DataFrame({"customer_id": [1, 2], "spend_30d": [9.0, 99.0], "orders": [3, 7]})
    store.write(SPEND, rows_of(SPEND, spend))
    cards = pd.DataFrame({"card": ["x"], "bank": [5], "limit": [500.0]})
    store.write(CARDS, rows_of(CARDS, cards))
    spec = FeatureSpec(
        lookups=(
            FeatureLookup("spend", "cid", rename_outputs={"orders": "n_orders"}),
            FeatureLookup("cards", {"bank": "bank_id", "card": "card"}, ["limit"]),
        ),
        functions=(FeatureFunction(ratio, {"amount": "amount", "spend": "spend_30d"}, "ratio"),),
    )
    return FeatureJoiner(spec, {"spend": SPEND, "cards": CARDS}, store)


def test_lookups_join_and_functions_compute(joiner: FeatureJoiner) -> None:
    request = pd.DataFrame(
        {"cid": [2, 1, 404], "card": ["x", "y", "x"], "bank_id": [5, 5, 5], "amount": [10.0] * 3}
    )
    joined = joiner.join(request)
    assert joined["spend_30d"].tolist()[:2] == [99.0, 9.0]
    assert pd.isna(joined["spend_30d"].iloc[2]), "a key the table lacks gives null"
    assert joined["n_orders"].tolist()[:2] == [7.0, 3.0]
    assert joined["limit"].tolist()[0] == 500.0 and pd.isna(joined["limit"].iloc[1])
    assert joined["ratio"].tolist()[:2] == [0.1, 1.0]
    assert joined["ratio"].iloc[2] is None or pd.isna(joined["ratio"].iloc[2])
    assert list(request.columns) == ["cid", "card", "bank_id", "amount"], "input untouched"


def test_request_values_win_cell_by_cell(joiner: FeatureJoiner) -> None:
    request = pd.DataFrame(
        {
            "cid": [1, 2],
            "card": ["x", "x"],
            "bank_id": [5, 5],
            "amount": [10.0, 10.0],
            "spend_30d": [4.0, None],
            "ratio": [None, 42.0],
        }
    )
    joined = joiner.join(request)
    assert joined["spend_30d"].tolist() == [4.0, 99.0]
    assert joined["ratio"].tolist() == [2.0, 42.0]


def test_request_errors_name_the_column(joiner: FeatureJoiner) -> None:
    with pytest.raises(InvalidParameterValue, match="lacks key column.*cid"):
        joiner.join(pd.DataFrame({"card": ["x"], "bank_id": [5], "amount": [1.0]}))
    with pytest.raises(InvalidParameterValue, match="Row 0: key column 'customer_id' is long"):
        joiner.join(pd.DataFrame({"cid": ["abc"], "card": ["x"], "bank_id": [5], "amount": [1.0]}))


def test_missing_keys_can_be_an_error(tmp_path: Path) -> None:
    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    store.write(
        SPEND, rows_of(SPEND, pd.DataFrame({"customer_id": [1], "spend_30d": [1.0], "orders": [1]}))
    )
    spec = FeatureSpec(lookups=(FeatureLookup("spend", "cid", on_missing="error"),))
    joiner = FeatureJoiner(spec, {"spend": SPEND}, store)
    assert joiner.join(pd.DataFrame({"cid": [1]}))["orders"].tolist() == [1]
    with pytest.raises(InvalidParameterValue, match=r"no features for \{'cid': 404\}"):
        joiner.join(pd.DataFrame({"cid": [1, 404]}))


def test_specs_naming_unknown_tables_or_features_are_refused() -> None:
    store = open_online_store("sqlite:///:memory:")
    with pytest.raises(InvalidParameterValue, match="table 'nope', which does not exist"):
        FeatureJoiner(FeatureSpec((FeatureLookup("nope", "k"),)), {"spend": SPEND}, store)
    with pytest.raises(InvalidParameterValue, match="no feature.*balance"):
        FeatureJoiner(
            FeatureSpec((FeatureLookup("spend", "k", ["balance"]),)), {"spend": SPEND}, store
        )
    with pytest.raises(InvalidParameterValue, match="primary keys"):
        FeatureJoiner(FeatureSpec((FeatureLookup("cards", "card"),)), {"cards": CARDS}, store)


def test_a_spec_round_trips_and_its_lookups_read_without_its_functions() -> None:
    spec = FeatureSpec(
        (FeatureLookup("spend", ["cid"], rename_outputs={"orders": "n"}),),
        (FeatureFunction(ratio, {"amount": "a", "spend": "s"}, "r"),),
    )
    data = spec.to_dict()
    again = FeatureSpec.from_dict(data)
    assert again.lookups == spec.lookups
    assert again.functions[0].function(amount=4.0, spend=1.0) == 2.0
    assert lookups_of({**data, "functions": [{"code": "not a pickle"}]}) == spec.lookups


def test_an_unreachable_store_is_a_503() -> None:
    store = open_online_store(f"redis://127.0.0.1:{free_port()}/0")
    joiner = FeatureJoiner(FeatureSpec((FeatureLookup("spend", "cid"),)), {"spend": SPEND}, store)
    with pytest.raises(TemporarilyUnavailable, match="online feature store is unreachable"):
        joiner.join(pd.DataFrame({"cid": [1]}))


def test_function_inputs_are_typed_by_their_annotations(joiner: FeatureJoiner) -> None:
    request = pd.DataFrame({"cid": [1], "card": ["x"], "bank_id": [5], "amount": ["10"]})
    assert joiner.join(request)["ratio"].tolist() == [1.0], "'10' became 10.0 for amount: float"
    request["amount"] = ["ten"]
    with pytest.raises(InvalidParameterValue, match="needs amount as float; 'ten' is not"):
        joiner.join(request)
