"""Tests of the simulators, scenarios, the demo and the whole chain."""
