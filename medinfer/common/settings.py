"""Settings base shared by every service.

Each service has one ``Settings`` class (``MEDINFER_<SERVICE>_<FIELD>``); nothing
else reads environment variables. ``MEDINFER_HOME`` is the one shared variable:
the state directory holding the model repository, keys, certificates and the
embedded databases (git-ignored ``.medinfer/`` by default).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings", "Environment", "SECRETS_DIR", "load_settings"]

# Where Kubernetes mounts the services' Secrets (one file per field: medinfer_<service>_<field>).
SECRETS_DIR = Path("/run/secrets/medinfer")

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    """Fields every service shares; subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(env_prefix="MEDINFER_", extra="ignore", secrets_dir=None)

    home: Path = Field(
        default=Path(".medinfer"),
        validation_alias=AliasChoices("MEDINFER_HOME", "home"),
        description="State directory: model repository, dev keys and certs, embedded databases.",
    )
    environment: Environment = Field(
        default="production",
        validation_alias=AliasChoices("MEDINFER_ENVIRONMENT", "environment"),
        description="'production' (the default, so a deployment that forgets the variable cannot trust a "
        "development key) refuses development keys, certificates and plain HTTP at start-up; 'development' is "
        "set by `medinfer up` / `make up`, the `medinfer` command and the test fixtures.",
    )
    log_level: str = Field(default="INFO", description="Root log level for this service.")
    listen_fd: int | None = Field(
        default=None, description="Serve on this inherited, already-bound socket instead of host:port (tests, socket activation)."
    )

    @property
    def model_repository_default(self) -> Path:
        return self.home / "models"


def load_settings(cls: type[ServiceSettings], secrets_dir: Path = SECRETS_DIR) -> ServiceSettings:
    """Environment first, then files in ``secrets_dir`` when it exists (pydantic-settings ``secrets_dir``).

    Invalid settings end the process with exit code 2 and one line per problem naming the setting, never
    its value (pydantic's own message would print every input, secrets included)."""
    try:
        return cls(_secrets_dir=secrets_dir if secrets_dir.is_dir() else None)  # type: ignore[call-arg]
    except ValidationError as exc:
        lines = [f"{cls.__name__}: refusing to start:"]
        for err in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
            lines.append(f"  {where}: {err.get('msg', 'invalid')}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
