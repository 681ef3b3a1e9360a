"""Customers and their people: lifecycle, addresses, profile, contacts, groups, partners, team,
portal accounts, registration, deletion, impersonation, saved views and the timeline."""
