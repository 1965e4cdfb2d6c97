"""Registry lifecycle on SQLite: publish, immutability, bad input, promote, rollback, canary."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from medinfer.common.errors import BackendUnavailable, Conflict, ModelNotFound, ValidationFailed
from medinfer.registry import RegistrySettings, build_registry
from medinfer.triton.model_config import ModelConfig
from tests.support.onnx_models import flaky, linear, write_folder


class Events:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def record(self, event: dict) -> None:
        self.items.append(event)


def snapshot_tree(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def reg(request, tmp_path: Path, events: Events):
    """The same tests on SQLite and on the real PostgreSQL server of the session."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    settings = RegistrySettings(home=tmp_path / "home", drain_grace_s=0, database_url=url)
    r = build_registry(settings, audit=events)
    yield r
    r.store.engine.dispose()


def publish(reg, tmp_path: Path, name="tumor", version=None, builder=linear, breaking=False, **kw):
    folder = write_folder(
        tmp_path / f"src-{name}-{version}-{builder.__name__}-{kw.get('seed', 0)}",
        builder,
        card="# Model card\nIntended use: testing.",
        **kw,
    )
    return reg.publish(folder, name, version=version, breaking=breaking, actor="alice", reason="test")


def test_publish_writes_an_immutable_version_with_checksums(reg, tmp_path, events):
    out = publish(reg, tmp_path)
    assert out["version"] == 1 and out["status"] == "ready"
    folder = reg.repository.root / "tumor" / "1"
    assert {p.name for p in folder.iterdir()} >= {"model.onnx", "model.py", "medinfer.json", "README.md"}
    model = reg.get_model("tumor")
    v1 = model["versions"][0]
    files = {f["path"]: f["sha256"] for f in v1["files"]}
    assert files["model.onnx"] == hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    assert v1["signature"]["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert v1["validation"]["smoke"]["sample"] == "generated"
    assert "Intended use" in v1["model_card"]
    assert model["current"] is None, "nothing becomes current implicitly"
    cfg = ModelConfig.from_pbtxt((reg.repository.root / "tumor" / "config.pbtxt").read_text())
    assert cfg.backend == "python" and cfg.max_batch_size > 0 and cfg.versions == (1,)
    assert [e["action"] for e in events.items] == ["model.publish"]
    assert events.items[0]["actor"] == "alice" and events.items[0]["after"] == 1

    before = snapshot_tree(reg.repository.root)
    with pytest.raises(Conflict) as err:
        publish(reg, tmp_path, version=1, seed=3)
    assert err.value.status == 409
    assert snapshot_tree(reg.repository.root) == before
    assert len(reg.get_model("tumor")["versions"]) == 1
    assert publish(reg, tmp_path, seed=4)["version"] == 2


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all", b"\x08\x07" + b"\xff" * 64])
def test_corrupt_or_non_onnx_files_change_nothing(reg, tmp_path, content):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(ValidationFailed) as err:
        reg.publish(bad, "tumor", actor="alice")
    assert err.value.status == 422
    assert snapshot_tree(reg.repository.root) == {}
    assert reg.list_models() == []


def test_wrong_extension_and_missing_path(reg, tmp_path):
    p = linear(tmp_path / "model.bin")
    with pytest.raises(ValidationFailed):
        reg.publish(p, "tumor", actor="a")
    with pytest.raises(ValidationFailed):
        reg.publish(tmp_path / "nope", "tumor", actor="a")
    with pytest.raises(ValidationFailed):
        reg.publish(linear(tmp_path / "m.onnx"), "Bad Name!", actor="a")
    assert reg.list_models() == []


def test_signature_mismatch_needs_breaking(reg, tmp_path, events):
    publish(reg, tmp_path)
    reg.promote("tumor", 1, actor="bob", reason="first release")
    before = snapshot_tree(reg.repository.root)
    with pytest.raises(ValidationFailed) as err:
        publish(reg, tmp_path, n_in=5)
    assert err.value.code == "signature-mismatch" and "input 'x' changed" in err.value.detail
    assert snapshot_tree(reg.repository.root) == before
    assert [v["version"] for v in reg.get_model("tumor")["versions"]] == [1]
    out = publish(reg, tmp_path, n_in=5, breaking=True)
    assert out["breaking"] is True
    # The served config still describes version 1 until the breaking version is promoted.
    cfg = ModelConfig.from_pbtxt((reg.repository.root / "tumor" / "config.pbtxt").read_text())
    assert cfg.inputs[0].dims == (4,) and cfg.versions == (1,)
    with pytest.raises(Conflict):
        reg.set_canary("tumor", 2, 10, actor="bob")
    reg.promote("tumor", 2, actor="bob", reason="breaking")
    cfg = ModelConfig.from_pbtxt((reg.repository.root / "tumor" / "config.pbtxt").read_text())
    assert cfg.inputs[0].dims == (5,) and cfg.versions == (2,)


def test_promote_rollback_and_history(reg, tmp_path, events):
    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=7)
    with pytest.raises(ModelNotFound):
        reg.promote("nosuch", 1, actor="bob")
    with pytest.raises(ModelNotFound):
        reg.promote("tumor", 9, actor="bob")
    with pytest.raises(Conflict):
        reg.rollback("tumor", actor="bob")
    reg.promote("tumor", 1, actor="bob", reason="r1")
    out = reg.promote("tumor", 2, actor="bob", reason="r2")
    assert out == {"name": "tumor", "current": 2, "previous": 1, "served": [2]}
    cfg = ModelConfig.from_pbtxt((reg.repository.root / "tumor" / "config.pbtxt").read_text())
    assert cfg.versions == (2,)
    with pytest.raises(Conflict):
        reg.promote("tumor", 2, actor="bob")
    assert reg.rollback("tumor", actor="carol", reason="bad metrics")["current"] == 1
    hist = reg.history("tumor")
    assert [(h["kind"], h["before"], h["after"], h["actor"]) for h in hist] == [
        ("publish", None, 1, "alice"),
        ("publish", None, 2, "alice"),
        ("promote", None, 1, "bob"),
        ("promote", 1, 2, "bob"),
        ("rollback", 2, 1, "carol"),
    ]
    assert hist[-1]["reason"] == "bad metrics"
    assert [e["action"] for e in events.items][-3:] == ["model.promote", "model.promote", "model.rollback"]
    assert events.items[-1]["before"] == 2 and events.items[-1]["after"] == 1


def test_tampered_version_fails_validation_and_cannot_be_promoted(reg, tmp_path, events):
    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=7)
    reg.promote("tumor", 1, actor="bob")
    (reg.repository.root / "tumor" / "2" / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(Conflict) as err:
        reg.promote("tumor", 2, actor="bob")
    assert err.value.code == "version-failed-validation"
    model = reg.get_model("tumor")
    assert model["current"] == 1 and model["versions"][1]["status"] == "failed"
    with pytest.raises(Conflict):
        reg.promote("tumor", 2, actor="bob")
    assert events.items[-1]["action"] == "model.validation_failed"


def test_concurrent_claims_on_one_model_one_wins(reg, tmp_path):
    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=7)
    rev = reg.store.claim("tumor", "current", 1, "bob")
    with pytest.raises(Conflict) as err:
        reg.promote("tumor", 2, actor="carol")
    assert err.value.code == "promotion-in-progress"
    reg.store.release("tumor", "current", rev)
    reg.promote("tumor", 2, actor="carol")
    assert reg.get_model("tumor")["current"] == 2


def test_commit_failure_after_the_folder_is_written_leaves_nothing(reg, tmp_path):
    publish(reg, tmp_path)
    before = snapshot_tree(reg.repository.root)
    from sqlalchemy.orm import Session

    def boom(session) -> None:
        raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    sa.event.listen(Session, "before_commit", boom)
    try:
        with pytest.raises(BackendUnavailable):
            publish(reg, tmp_path, seed=9)
    finally:
        sa.event.remove(Session, "before_commit", boom)
    assert snapshot_tree(reg.repository.root) == before
    assert [v["version"] for v in reg.get_model("tumor")["versions"]] == [1]


def test_database_unavailable_is_a_clear_503(tmp_path):
    settings = RegistrySettings(home=tmp_path, database_url="postgresql+psycopg://u@127.0.0.1:1/none")
    with pytest.raises(BackendUnavailable) as err:
        build_registry(settings)
    assert err.value.status == 503 and err.value.code == "registry-unavailable"
    assert "127.0.0.1" not in err.value.detail


def test_canary_set_change_and_clear(reg, tmp_path, events):
    publish(reg, tmp_path)
    publish(reg, tmp_path, builder=flaky)
    with pytest.raises(Conflict):
        reg.set_canary("tumor", 2, 10, actor="bob")  # no current yet
    reg.promote("tumor", 1, actor="bob")
    with pytest.raises(ValidationFailed):
        reg.set_canary("tumor", 2, 0, actor="bob")
    reg.set_canary("tumor", 2, 10, actor="bob", reason="try")
    cfg = ModelConfig.from_pbtxt((reg.repository.root / "tumor" / "config.pbtxt").read_text())
    assert cfg.versions == (1, 2)
    reg.set_canary("tumor", 2, 50, sticky=True, actor="bob")
    assert reg.get_model("tumor")["canary"] == {"version": 2, "weight": 50.0, "sticky": True}
    reg.clear_canary("tumor", actor="rollout", reason="error rate 0.5 > 0.05", automatic=True)
    assert reg.get_model("tumor")["canary"] is None
    cfg = ModelConfig.from_pbtxt((reg.repository.root / "tumor" / "config.pbtxt").read_text())
    assert cfg.versions == (1,)
    last = events.items[-1]
    assert last["action"] == "model.auto_rollback" and "error rate" in last["reason"]
    assert last["before"] == 2 and last["after"] == 1 and last["detail"]["weight_before"] == 50.0


def test_promote_graduates_the_canary(reg, tmp_path):
    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=5)
    reg.promote("tumor", 1, actor="bob")
    reg.set_canary("tumor", 2, 100, actor="bob")
    reg.promote("tumor", 2, actor="bob")
    m = reg.get_model("tumor")
    assert m["current"] == 2 and m["canary"] is None


def test_concurrent_publishes_of_one_version(reg, tmp_path):
    folders = [write_folder(tmp_path / f"c{i}", linear, seed=i) for i in range(2)]
    results: list[object] = []

    def go(folder):
        try:
            results.append(reg.publish(folder, "tumor", version=1, actor="a"))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=go, args=(f,)) for f in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"]
    assert reg.repository.versions("tumor") == [1]


def test_adopting_shipped_versions_is_explicit_and_idempotent(reg, tmp_path, events):
    from medinfer.registry.bootstrap import adopt_repository
    from medinfer.triton.onnx_signature import config_from_onnx

    for v in (1, 2):
        src = linear(tmp_path / f"shipped{v}.onnx", seed=v)
        reg.repository.write_version(
            config_from_onnx("shipped", src), v, {"model.onnx": src}, {"kind": "tensor"}
        )
    done = adopt_repository(reg, actor="medinfer-up", reason="shipped models")
    assert [d["version"] for d in done] == [1, 2]
    model = reg.get_model("shipped")
    assert model["current"] == 2
    assert {f["path"] for f in model["versions"][0]["files"]} == {"model.onnx", "model.py", "medinfer.json"}
    assert [(h["kind"], h["after"]) for h in reg.history("shipped")] == [
        ("adopt", 1),
        ("adopt", 2),
        ("promote", 2),
    ]
    assert adopt_repository(reg, actor="medinfer-up", reason="again") == []
    assert len(reg.history("shipped")) == 3
    assert [e["action"] for e in events.items] == ["model.adopt", "model.adopt", "model.promote"]


def test_database_down_mid_life_changes_nothing(reg, tmp_path):
    from medinfer.registry.db import make_engine
    from medinfer.registry.store import Store

    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=2)
    reg.promote("tumor", 1, actor="bob")
    before = snapshot_tree(reg.repository.root)
    live = reg.store
    reg.store = Store(make_engine("postgresql+psycopg://u@127.0.0.1:1/gone"))
    try:
        for op in (
            lambda: publish(reg, tmp_path, seed=3),
            lambda: reg.promote("tumor", 2, actor="bob"),
            lambda: reg.rollback("tumor", actor="bob"),
            lambda: reg.set_canary("tumor", 2, 10, actor="b"),
            reg.list_models,
        ):
            with pytest.raises(BackendUnavailable) as err:
                op()
            assert err.value.code == "registry-unavailable" and err.value.status == 503
    finally:
        reg.store.engine.dispose()
        reg.store = live
    assert snapshot_tree(reg.repository.root) == before
    assert reg.get_model("tumor")["current"] == 1 and len(reg.history("tumor")) == 3


def test_moves_of_different_tags_of_one_model_run_one_at_a_time(reg, tmp_path):
    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=2)
    publish(reg, tmp_path, seed=3)
    reg.promote("tumor", 1, actor="bob")
    rev = reg.store.claim("tumor", "canary", 2, "carol")
    with pytest.raises(Conflict) as err:
        reg.promote("tumor", 3, actor="bob")
    assert err.value.code == "promotion-in-progress" and "canary" in err.value.detail
    with pytest.raises(Conflict):
        reg.set_tag("tumor", "research", 3, actor="bob")
    reg.store.release("tumor", "canary", rev)
    reg.promote("tumor", 3, actor="bob")
    assert reg.get_model("tumor")["current"] == 3


def test_shipped_sample_is_used_and_checked(reg, tmp_path):
    import json

    folder = write_folder(tmp_path / "with-sample", linear)
    sample = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "data": [0.5] * 8}]}
    (folder / "sample.json").write_text(json.dumps(sample))
    out = reg.publish(folder, "tumor", actor="a")
    v = reg.get_model("tumor")["versions"][0]
    assert out["validation"]["smoke"] == v["validation"]["smoke"]
    assert v["validation"]["smoke"]["sample"] == "shipped"
    assert v["validation"]["smoke"]["output_shapes"] == {"y": [2, 2]}
    assert (reg.repository.root / "tumor" / "1" / "sample.json").is_file()
    sample["inputs"][0]["shape"] = [3, 4]
    (folder / "sample.json").write_text(json.dumps(sample))
    with pytest.raises(ValidationFailed) as err:
        reg.publish(folder, "tumor", actor="a")
    assert err.value.extra["field"] == "sample.json"
    assert reg.repository.versions("tumor") == [1]


def test_audit_failure_reaches_the_caller_but_the_old_version_is_still_retired(reg, tmp_path):
    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=2)
    reg.promote("tumor", 1, actor="bob")

    class DownLedger:
        def record(self, event: dict) -> None:
            raise BackendUnavailable("the audit ledger cannot be written", code="audit-unavailable")

    reg.audit = DownLedger()
    with pytest.raises(BackendUnavailable) as err:
        reg.promote("tumor", 2, actor="bob")
    assert err.value.code == "audit-unavailable"
    assert reg.get_model("tumor")["current"] == 2  # committed before the sink was called
    cfg = ModelConfig.from_pbtxt((reg.repository.root / "tumor" / "config.pbtxt").read_text())
    assert cfg.versions == (2,), "the retired version was still dropped from the served set"


def test_adopting_a_custom_python_backend_version_records_its_config(reg, tmp_path):
    from medinfer.registry.bootstrap import adopt_repository
    from medinfer.triton.model_config import TensorSpec

    cfg = ModelConfig(
        name="notes",
        backend="python",
        inputs=(TensorSpec("text", "BYTES", (1,)),),
        outputs=(TensorSpec("embedding", "FP32", (384,)),),
        max_batch_size=8,
    )
    runner = b"class TritonPythonModel:\n    def execute(self, requests):\n        return []\n"
    reg.repository.write_version(cfg, 1, {"model.py": runner, "vocab.txt": b"a\nb\n"}, {"kind": "text"})
    (reg.repository.root / "broken" / "1").mkdir(parents=True)  # no config: not a model, ignored
    adopt_repository(reg, actor="gateway-startup", reason="shipped")
    model = reg.get_model("notes")
    v1 = model["versions"][0]
    assert model["current"] == 1 and v1["validation"]["kind"] == "custom"
    assert v1["signature"]["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [1]}]
    assert {f["path"] for f in v1["files"]} == {"model.py", "vocab.txt", "medinfer.json"}
    written = ModelConfig.from_pbtxt((reg.repository.root / "notes" / "config.pbtxt").read_text())
    assert written.inputs == cfg.inputs and written.max_batch_size == 8 and written.versions == (1,)
    assert reg.verify("notes", 1)["passed"] is True
