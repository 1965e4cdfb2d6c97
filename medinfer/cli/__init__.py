"""The ``medinfer`` command: one typer root, one module per command group."""
