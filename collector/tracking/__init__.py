"""Outage tracking: the collector's sans-I/O centre (tracker, evidence, clocks)."""
