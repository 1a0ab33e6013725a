"""The network-down budget: its rules (pure), operator marks, the report."""
