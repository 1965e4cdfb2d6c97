"""Session-wide fixtures: real servers on OS-assigned ports (see tests/support/)."""

import os

# The services default to production; the tests run them (in process and as child processes) in development
# unless a test says otherwise (tests/unit/test_production_refusals.py clears it to test the default).
os.environ.setdefault("MEDINFER_ENVIRONMENT", "development")

pytest_plugins = ["tests.support.postgres", "tests.support.stack", "tests.support.oidc_provider"]
