"""Money coming in: the Stripe account, cards saved at Stripe, card charges and refunds, Stripe's
webhooks, the customer's card rules, the account ledger and what an invoice still has open."""
