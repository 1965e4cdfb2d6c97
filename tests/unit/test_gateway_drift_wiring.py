"""The gateway's drift monitor follows the model catalog and the policy precedence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry

from medinfer.gateway.monitoring import build_drift_monitor, policy_for, sync_drift_monitor
from medinfer.gateway.settings import GatewaySettings
from medinfer.monitoring import build_tabular_profile, save_profile


@dataclass
class _Entry:
    name: str
    version: int
    metadata: dict


class _Catalog:
    """The slice of ModelCatalog the wiring uses."""

    def __init__(self, entries: dict[str, dict[int, dict]]) -> None:
        self.entries = entries

    def names(self) -> list[str]:
        return sorted(self.entries)

    def versions(self, name: str) -> list[int]:
        return sorted(self.entries.get(name, {}))

    def get(self, name: str, version: int | None = None) -> _Entry:
        return _Entry(name, version, self.entries[name][version])


def _repo(root: Path) -> None:
    x = np.random.default_rng(0).normal(10, 2, size=(200, 3))
    for v in (1, 2):
        d = root / "tab" / str(v)
        d.mkdir(parents=True)
        save_profile(build_tabular_profile(x, ["a", "b", "c"]), d)
    (root / "tab" / "3").mkdir()  # a version without a profile: served unmonitored
    (root / "other" / "1").mkdir(parents=True)
    (root / "other" / "1" / "reference_profile.json").write_text("{not json")


def test_policy_precedence() -> None:
    s = GatewaySettings(ood_policy="flag", ood_policies={"a": "reject"})
    assert policy_for(s, "a", {"ood_policy": "off"}) == "reject"
    assert policy_for(s, "b", {"ood_policy": "off"}) == "off"
    assert policy_for(s, "b", {"ood_policy": "bogus"}) == "flag"
    assert policy_for(GatewaySettings(ood_policy_from_metadata=False), "b", {"ood_policy": "off"}) == "flag"


def test_monitor_follows_the_catalog(tmp_path: Path) -> None:
    _repo(tmp_path)
    settings = GatewaySettings(model_repository=tmp_path, ood_policies={"tab": "reject"})
    catalog = _Catalog({"tab": {1: {}, 2: {"ood_policy": "flag"}, 3: {}}, "other": {1: {}}})
    mon = build_drift_monitor(settings, catalog, CollectorRegistry())
    assert sorted(mon.keys()) == [("tab", "1"), ("tab", "2")]  # no profile / unreadable profile: unmonitored
    assert mon.get("tab", "2").policy == "reject"
    mon.record("tab", "1", np.full(3, 10.0))
    catalog.entries["tab"].pop(1)
    sync_drift_monitor(mon, settings, catalog)
    assert mon.keys() == [("tab", "2")]
