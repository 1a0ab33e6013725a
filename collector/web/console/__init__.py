"""The seat group's web console: pages, sign-in, and the role checks the API shares."""
