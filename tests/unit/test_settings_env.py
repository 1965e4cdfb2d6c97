"""Settings read only ``MEDINFER_*`` variables: state goes to ``.medinfer/`` under the cwd, never ``$HOME``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pydantic import AliasChoices, AliasPath

from medinfer.common.settings import ServiceSettings
from medinfer.gateway.settings import GatewaySettings
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.registry.settings import RegistrySettings
from medinfer.security.settings import SecuritySettings
from medinfer.triton.settings import TritonSettings

SETTINGS = (ServiceSettings, GatewaySettings, PreprocessSettings, RegistrySettings, SecuritySettings, TritonSettings)


def _clean_env(home: Path) -> dict[str, str]:
    """What a new user's shell has: HOME and PATH set, no MEDINFER_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDINFER_")}
    env.update(HOME=str(home), ENVIRONMENT="development", LOG_LEVEL="CRITICAL")
    return env


def test_no_settings_field_reads_a_variable_outside_the_medinfer_namespace() -> None:
    for cls in SETTINGS:
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            names = [alias] if isinstance(alias, str) else (
                [a for a in alias.choices if isinstance(a, str)] if isinstance(alias, AliasChoices) else [])
            assert not isinstance(alias, AliasPath)
            for env_name in names:
                assert env_name.upper().startswith("MEDINFER_"), f"{cls.__name__}.{name} reads ${env_name}"


def test_state_defaults_to_dot_medinfer_in_the_cwd_with_home_set(tmp_path: Path) -> None:
    user_home, cwd = tmp_path / "user-home", tmp_path / "project"
    user_home.mkdir()
    cwd.mkdir()
    code = (
        "import json, pathlib\n"
        "from medinfer.gateway.settings import GatewaySettings as G\n"
        "from medinfer.preprocess.settings import PreprocessSettings as P\n"
        "from medinfer.registry.settings import RegistrySettings as R\n"
        "from medinfer.triton.settings import TritonSettings as T\n"
        "out = {c.__name__: [str(c().home.resolve()), c().environment] for c in (G, P, R, T)}\n"
        "out['db'] = R().resolved_database_url()\n"
        "print(json.dumps(out))\n"
    )
    env = _clean_env(user_home) | {"ENVIRONMENT": "test", "MEDINFER_ENVIRONMENT": "development"}  # as `medinfer up`
    r = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    db = out.pop("db")
    for name, (home, environment) in out.items():
        assert home == str((cwd / ".medinfer").resolve()), name
        assert environment == "development", name  # MEDINFER_ENVIRONMENT, not the shell's $ENVIRONMENT
    assert db == f"sqlite:///{(cwd / '.medinfer' / 'medinfer.db').resolve()}"


def test_medinfer_token_writes_its_keys_under_the_cwd_not_home(tmp_path: Path) -> None:
    user_home, cwd = tmp_path / "user-home", tmp_path / "project"
    user_home.mkdir()
    cwd.mkdir()
    medinfer = str(Path(sys.executable).parent / "medinfer")
    r = subprocess.run([medinfer, "token"], cwd=cwd, env=_clean_env(user_home), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert (cwd / ".medinfer" / "keys" / "dev-signing-key.pem").is_file()
    assert list(user_home.iterdir()) == []


def test_medinfer_home_and_keyword_arguments_still_win(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEDINFER_HOME", str(tmp_path / "env-home"))
    assert GatewaySettings().home == tmp_path / "env-home"
    assert RegistrySettings(home=tmp_path / "kw").home == tmp_path / "kw"
    assert PreprocessSettings(environment="test").environment == "test"
