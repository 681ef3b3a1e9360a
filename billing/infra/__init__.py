"""Infrastructure behind the domain: backups, search backends, the demo mail sink."""
