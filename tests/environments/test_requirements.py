"""What goes into a model's virtualenv, read from MLflow's files in a model folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from servegate.environments import EnvironmentFailed
from servegate.environments.requirements import read_requirements


def model_folder(path: Path, requirements: str, python: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "requirements.txt").write_text(requirements)
    if python is not None:
        (path / "python_env.yaml").write_text(
            f"python: {python}\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
        )
    return path


def this_python() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def test_the_model_pins_win_over_servegates_own_requirements(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, "scikit-learn==1.5.2\nmlflow==3.17.2\n", this_python())
    wanted = read_requirements(folder)
    assert wanted.model_file == folder / "requirements.txt"
    names = [line.split(">")[0].split("<")[0].split("[")[0] for line in wanted.servegate]
    assert "scikit-learn" not in names and "mlflow" not in names
    assert "uvicorn" in names and "orjson" in names
    assert "uv" not in names  # builds environments; never used inside one


def test_the_digest_names_the_requirements_not_their_order(tmp_path: Path) -> None:
    first = model_folder(tmp_path / "a", "numpy==2.4.6\n# logged by MLflow\npandas\n")
    second = model_folder(tmp_path / "b", "pandas\nnumpy==2.4.6  # pinned\n")
    other = model_folder(tmp_path / "c", "pandas\nnumpy==2.4.5\n")
    assert read_requirements(first).digest == read_requirements(second).digest
    assert read_requirements(first).digest != read_requirements(other).digest


def test_a_model_of_another_python_minor_version_is_refused(tmp_path: Path) -> None:
    older = f"{sys.version_info.major}.{sys.version_info.minor - 1}.4"
    with pytest.raises(EnvironmentFailed, match=f"logged with Python {older}"):
        read_requirements(model_folder(tmp_path, "pandas\n", older))


def test_a_model_without_requirements_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentFailed, match="no requirements.txt"):
        read_requirements(tmp_path)
