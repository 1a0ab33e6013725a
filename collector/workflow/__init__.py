"""The incident workflow: dispatch, business-time clocks, scores and notifications."""
