"""``medinfer``: the single entry point. Command groups register themselves from their modules."""

from __future__ import annotations

import typer

from medinfer.cli import audit, models, stack_commands, token

app = typer.Typer(name="medinfer", help="medinfer: audited clinical AI inference.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)

for module in (stack_commands, token, audit, models):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
