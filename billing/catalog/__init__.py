"""What is sold and how it is priced: price tiers, payment methods, self-service settings."""
