"""Money coming in: the Stripe gateway, saved cards, the account ledger and what an invoice still
has open."""
