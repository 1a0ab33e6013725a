"""The shared core: wire contract, config, broker options, ids, JSON, clocks."""
