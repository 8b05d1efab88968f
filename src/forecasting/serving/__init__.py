"""The ``forecaster`` Bento: the service, its schema and guard, batching, the build, parity."""
