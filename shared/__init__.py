"""The project's shared package: event envelope and schemas, Redis keys, fiscal calendar, framework data, config and errors."""
