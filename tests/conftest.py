"""Session-wide fixtures: real servers on OS-assigned ports (see tests/support/)."""

pytest_plugins = ["tests.support.postgres", "tests.support.stack", "tests.support.oidc_provider"]
