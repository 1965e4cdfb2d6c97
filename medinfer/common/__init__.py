"""Code shared by every medinfer service: settings, errors, HTTP glue, logging, protocol types."""
