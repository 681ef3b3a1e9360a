"""Invoices: drafting and numbering, credit notes, PDF, e-mail, invoice settings, the month-end run,
purchase orders."""
