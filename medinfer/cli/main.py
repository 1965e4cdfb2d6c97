"""``medinfer``: the single entry point. Command groups register themselves from their modules."""

from __future__ import annotations

import os

import typer

from medinfer.cli import audit, deid, dicom, drift, models, stack_commands, token

app = typer.Typer(name="medinfer", help="medinfer: audited clinical AI inference.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)



@app.callback()
def _developer_tool() -> None:
    """The ``medinfer`` command is the developer's and operator's tool next to a local stack: unless
    MEDINFER_ENVIRONMENT says otherwise it works in development (the services themselves default to
    production, see ServiceSettings.environment)."""
    os.environ.setdefault("MEDINFER_ENVIRONMENT", "development")


for module in (stack_commands, token, audit, models, deid, dicom):
    module.register(app)
drift.register(models.models_app)  # `medinfer models drift NAME`


def main() -> None:
    app()


if __name__ == "__main__":
    main()
