"""Fakes of everything outside parkwatch: devices, the broker, the uplink and their faults."""
