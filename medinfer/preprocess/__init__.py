"""The preprocessor service (port 8080): validation, normalization, PHI de-identification."""
