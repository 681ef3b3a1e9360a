"""Invoices: draft lines and drafting, VAT, numbering and finalizing, credit notes, payment marks,
PDF, e-mail, invoice settings, the month-end run, purchase orders."""
