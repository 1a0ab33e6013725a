"""The firmware profiles shipped with parkwatch (TOML files beside this one); see
docs/profiles.md. A package only so that the files install with parkwatch."""
