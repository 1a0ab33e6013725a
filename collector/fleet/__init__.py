"""The fleet: registered sites, their broker accounts and ACL, certificates."""
