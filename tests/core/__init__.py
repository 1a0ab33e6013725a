"""Tests of the shared core and the command line."""
