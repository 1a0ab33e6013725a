"""Files installed on a gateway: the systemd unit and a sample config (package data)."""
