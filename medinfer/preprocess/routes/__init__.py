"""HTTP routes of the preprocessor: one module per route group."""
