"""Subscriptions and their changes: IP distribution, scheduled and pending changes, the portal's own
subscription, additional subscriptions, project keys."""
