"""Tests of the incident workflow."""
