"""The tracker: projects the event log into status, audit trails and rollups, and serves them."""
