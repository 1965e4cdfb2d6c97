"""The preprocessor service: de-identification and model-specific preprocessing."""
