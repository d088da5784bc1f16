from servegate.registry.references import canonical_reference
from servegate.registry.snapshot import RegisteredModelState, VersionInfo


def state() -> RegisteredModelState:
    versions = {
        "1": VersionInfo("1", "Archived", True),
        "2": VersionInfo("2", "Production", True),
        "3": VersionInfo("3", "Staging", True),
        "4": VersionInfo("4", "None", True),
        "5": VersionInfo("5", "None", False),  # still uploading
    }
    return RegisteredModelState("m", True, versions, {"champion": "1", "next": "5"})


def test_resolution() -> None:
    model = state()
    assert model.served_versions() == ["2", "3", "4"]
    assert model.resolve("Production") == "2"
    assert model.resolve("production") == "2"
    assert model.resolve("Staging") == "3"
    assert model.resolve("@champion") == "1", "an alias may point at an archived version"
    assert model.resolve("@next") is None, "not registered yet"
    assert model.resolve("@missing") is None
    assert model.resolve("4") == "4" and model.resolve("9") is None
    assert model.resolve("") == "2", "the default is Production"
    assert model.resolve("Bogus") is None


def test_default_without_production_is_the_newest() -> None:
    versions = {"1": VersionInfo("1", "None", True), "2": VersionInfo("2", "Staging", True)}
    assert RegisteredModelState("m", True, versions).default_version() == "2"
    assert RegisteredModelState("m", True, {}).default_version() is None


def test_canonical_reference() -> None:
    assert canonical_reference("STAGING") == "Staging"
    assert canonical_reference("@Champion") == "@Champion"
    assert canonical_reference("7") == "7"
