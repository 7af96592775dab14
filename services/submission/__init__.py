"""The submission service: authenticates, validates and appends plan-change and report events."""
