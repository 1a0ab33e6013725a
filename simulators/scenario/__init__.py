"""Scenarios on a virtual clock: simulated sites and the collector's cores, in memory."""
