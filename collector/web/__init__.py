"""The collector's HTTP side: the API and its contract, users, the console."""
