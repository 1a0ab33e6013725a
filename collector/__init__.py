"""The central collector: liveness, outages, incidents and the API."""
