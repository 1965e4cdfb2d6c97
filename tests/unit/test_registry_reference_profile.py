"""Publishing a version carries its drift/OOD reference profile; an invalid one is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medinfer.common.errors import ValidationFailed
from medinfer.monitoring import PROFILE_FILENAME, build_tabular_profile, load_profile, save_profile
from medinfer.registry import RegistrySettings, build_registry
from tests.support.onnx_models import linear, write_folder


class _Events:
    def record(self, event: dict) -> None:
        pass


@pytest.fixture
def reg(tmp_path: Path):
    r = build_registry(RegistrySettings(home=tmp_path / "home", drain_grace_s=0), audit=_Events())
    yield r
    r.store.engine.dispose()


def test_publish_copies_a_valid_profile_and_refuses_a_broken_one(reg, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "src", linear, card="# card")
    profile = build_tabular_profile(np.random.default_rng(0).normal(size=(100, 2)), ["a", "b"])
    save_profile(profile, folder / PROFILE_FILENAME)
    out = reg.publish(folder, "tumor", actor="alice", reason="test")
    assert load_profile(reg.repository.root / "tumor" / str(out["version"])) == profile

    bad = write_folder(tmp_path / "bad", linear, card="# card", seed=2)
    (bad / PROFILE_FILENAME).write_text('{"kind": "tabular"}')
    with pytest.raises(ValidationFailed) as ei:
        reg.publish(bad, "tumor", actor="alice", reason="test")
    assert ei.value.extra["field"] == PROFILE_FILENAME
    assert reg.repository.versions("tumor") == [out["version"]]
