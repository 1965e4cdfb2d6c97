"""The gateway service (HTTPS 8443): auth, audit, routing, resilience, the public API."""
