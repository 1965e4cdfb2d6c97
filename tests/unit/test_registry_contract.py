"""A new version keeps the current version's input contract unless it brings its own;
a contract change needs ``--breaking`` (a bare retrained ONNX must not change the API)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medinfer.common.errors import Conflict
from medinfer.preprocess.tabular import TabularSchema
from medinfer.registry.factory import build_registry
from medinfer.registry.settings import RegistrySettings
from medinfer.shipped_models import build_model
from medinfer.triton.catalog import ModelCatalog
from tests.support.onnx_models import linear

ROOT = Path(__file__).resolve().parents[2]
NAME = "breast_cancer"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bc") / "model_folder"
    build_model(NAME, folder)
    return folder


@pytest.fixture
def registry(tmp_path: Path, built: Path):
    reg = build_registry(RegistrySettings(home=tmp_path / "home", drain_grace_s=0))
    reg.publish(built, NAME, actor="test", reason="v1")
    reg.promote(NAME, 1, actor="test", reason="v1")
    yield reg
    reg.store.engine.dispose()


def _readme_example() -> dict:
    return json.loads((ROOT / "examples" / "infer_breast_cancer.json").read_text())["input"]


def test_bare_onnx_inherits_schema_fhir_codes_and_profile(registry, built: Path, tmp_path: Path) -> None:
    bare = tmp_path / "retrained" / "model.onnx"
    bare.parent.mkdir()
    shutil.copyfile(built / "model.onnx", bare)
    view = registry.publish(bare, NAME, actor="test", reason="retrained on Q3 data")
    assert view["version"] == 2
    v1, v2 = (registry.repository.metadata(NAME, v) for v in (1, 2))
    assert v2["kind"] == "tabular"
    for part in ("features", "fhir", "input", "outputs", "ood_policy", "reference_profile"):
        assert v2[part] == v1[part], part
    assert "metrics" not in v2, "the retrained artefact's metrics are unknown, not the old ones"
    assert v2["inherited"]["from_version"] == 1
    folder = registry.repository.root / NAME / "2"
    assert (folder / "reference_profile.json").read_bytes() == (registry.repository.root / NAME / "1" /
                                                                 "reference_profile.json").read_bytes()
    registry.promote(NAME, 2, actor="test", reason="go")
    entry = ModelCatalog(registry.repository).get(NAME, 2)
    assert entry.kind == "tabular"
    assert TabularSchema.from_metadata(entry.metadata).normalize(_readme_example()).shape == (1, 30)
    publish = [h for h in registry.history(NAME) if h["kind"] == "publish"][-1]
    assert "fhir" in publish["detail"]["inherited"]


def test_a_changed_contract_needs_breaking(registry, built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "renamed"
    shutil.copytree(built, folder)
    meta = json.loads((folder / "medinfer.json").read_text())
    meta["features"][0]["name"] = "radius_mean"
    (folder / "medinfer.json").write_text(json.dumps(meta))
    with pytest.raises(Conflict) as err:
        registry.publish(folder, NAME, actor="test")
    assert err.value.code == "contract-changed" and err.value.extra["changed"] == ["features"]
    assert registry.repository.versions(NAME) == [1], "a refused publish writes nothing"
    assert registry.publish(folder, NAME, actor="test", breaking=True)["version"] == 2


def test_own_metadata_without_fhir_keeps_current_codes(registry, built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "nofhir"
    shutil.copytree(built, folder)
    meta = json.loads((folder / "medinfer.json").read_text())
    del meta["fhir"]
    (folder / "medinfer.json").write_text(json.dumps(meta))
    registry.publish(folder, NAME, actor="test")
    assert registry.repository.metadata(NAME, 2)["fhir"] == registry.repository.metadata(NAME, 1)["fhir"]
    assert registry.repository.metadata(NAME, 2)["metrics"] == meta["metrics"]


def test_a_new_signature_with_breaking_inherits_nothing(registry, tmp_path: Path) -> None:
    other = linear(tmp_path / "model.onnx", n_in=4)
    registry.publish(other, NAME, actor="test", breaking=True)
    meta = registry.repository.metadata(NAME, 2)
    assert meta["kind"] == "tensor" and "features" not in meta and "inherited" not in meta
    assert not (registry.repository.root / NAME / "2" / "reference_profile.json").exists()
