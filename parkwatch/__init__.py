"""parkwatch: the shared core both halves stand on, and the command line."""
