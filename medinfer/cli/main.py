"""``medinfer``: the single entry point. Command groups register themselves from their modules."""

from __future__ import annotations

import typer

from medinfer.cli import audit, deid, dicom, drift, models, stack_commands, token

app = typer.Typer(name="medinfer", help="medinfer: audited clinical AI inference.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)

for module in (stack_commands, token, audit, models, deid, dicom):
    module.register(app)
drift.register(models.models_app)  # `medinfer models drift NAME`


def main() -> None:
    app()


if __name__ == "__main__":
    main()
