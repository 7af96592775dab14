"""The two services: submission (write side) and tracker (read side)."""
