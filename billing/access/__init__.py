"""Staff accounts and passwords."""
