"""Customers and their people: onboarding and lifecycle, lookup and the list summary, the actions
that apply, portal sign-in, addresses, profile, contacts, groups, partners, team, portal accounts,
registration, deletion, impersonation, saved views and the timeline."""
