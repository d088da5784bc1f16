"""The create form's own checks, and where API errors land on it."""

from __future__ import annotations

from starlette.datastructures import FormData

from servegate.ui.endpoint_form import EndpointForm


def _form(**fields: str) -> EndpointForm:
    return EndpointForm.from_form(FormData(list(fields.items())))


def test_one_served_model_makes_a_config_without_routes() -> None:
    form = _form(
        **{
            "rows": "1",
            "name": "e",
            "model-0": "m",
            "version-0": "2",
            "zero-0": "on",
            "env-0": "A=1\n\nB = two",
        }
    )
    assert form.config() == {
        "served_entities": [
            {
                "entity_name": "m",
                "entity_version": "2",
                "workload_size": "Small",
                "scale_to_zero_enabled": True,
                "environment_vars": {"A": "1", "B": "two"},
            }
        ]
    }


def test_traffic_must_be_whole_numbers_adding_up_to_100() -> None:
    two = {"rows": "2", "model-0": "m", "version-0": "1", "model-1": "m", "version-1": "2"}
    form = _form(**two, **{"traffic-0": "70", "traffic-1": "20"})
    assert form.config() is None
    assert "adds up to 90%" in form.errors["traffic"]
    form = _form(**two, **{"traffic-0": "x", "traffic-1": "100"})
    assert form.config() is None and "traffic-0" in form.errors
    form = _form(**two, **{"traffic-0": "80", "traffic-1": "20"})
    assert form.config()["traffic_config"]["routes"] == [  # type: ignore[index]
        {"served_entity_name": "m-1", "traffic_percentage": 80},
        {"served_entity_name": "m-2", "traffic_percentage": 20},
    ]


def test_bad_environment_lines_and_missing_models_are_named() -> None:
    form = _form(**{"rows": "1", "env-0": "no equals sign"})
    assert form.config() is None
    assert form.errors == {
        "env-0": "Line 1: write NAME=value.",
        "model-0": "Choose a registered model.",
    }


def test_api_errors_land_next_to_the_field_they_name() -> None:
    form = _form(
        **{
            "rows": "2",
            "model-0": "a",
            "version-0": "1",
            "model-1": "b",
            "version-1": "@champion",
            "served-1": "v2",
        }
    )
    cases = {
        ("RESOURCE_ALREADY_EXISTS", "Endpoint with name 'x' already exists."): "name",
        ("INVALID_PARAMETER_VALUE", "Endpoint name 'x y' is invalid: ..."): "name",
        (
            "INVALID_PARAMETER_VALUE",
            "Invalid value for config.served_entities.1.workload_size: must be one of Small",
        ): "size-1",
        ("INVALID_PARAMETER_VALUE", "Model 'b' has no version at alias @champion."): "version-1",
        ("INVALID_PARAMETER_VALUE", "Registered model 'a' does not exist."): "model-0",
        ("INVALID_PARAMETER_VALUE", "Served model name 'v2' is used more than once"): "served-1",
        (
            "INVALID_PARAMETER_VALUE",
            "served model 'a-1': environment variable K references "
            "secret s/k, which does not exist.",
        ): "env-0",
        ("INVALID_PARAMETER_VALUE", "traffic_config percentages add up to 90"): "traffic",
        ("TEMPORARILY_UNAVAILABLE", "The model registry could not be read"): "general",
    }
    for (code, message), field in cases.items():
        form.errors.clear()
        form.place(code, message)
        assert list(form.errors) == [field], message


def test_serve_this_version_fills_the_first_row_and_a_name() -> None:
    form = EndpointForm.serving("Churn model.v2", "3")
    assert form.name == "Churn-model-v2"
    assert (form.rows[0].model, form.rows[0].version) == ("Churn model.v2", "3")
    assert EndpointForm.serving("", "").config() is None  # an empty form, as before


def test_the_python_choice_goes_into_the_config_and_back() -> None:
    one = {"rows": "1", "name": "e", "model-0": "m", "version-0": "2", "served-0": "s"}
    form = _form(**one, **{"python-0": "virtualenv"})
    config = form.config()
    assert config is not None
    assert config["served_entities"][0]["env_manager"] == "virtualenv"
    endpoint = {"name": "e", "config": config}
    assert EndpointForm.from_endpoint(endpoint).rows[0].env_manager == "virtualenv"
    unchosen = _form(**one)
    assert "env_manager" not in (unchosen.config() or {})["served_entities"][0]
    form.place(
        "INVALID_PARAMETER_VALUE",
        "Invalid value for config.served_entities.0.env_manager: "
        "Input should be 'local' or 'virtualenv'.",
    )
    assert "python-0" in form.errors
