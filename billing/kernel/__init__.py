"""The kernel every room uses: clock, errors, audit, settings and secrets, permissions, locking,
translations, country names and the e-mail log."""
