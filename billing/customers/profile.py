"""The company profile in the customer portal (SPEC §10, seed 3.5): self-service customers edit
their own address, VAT-ID and billing address with the admin's validation; the provider keeps
the addresses of managed customers.
"""

from __future__ import annotations

from billing.customers.addresses import AddressInput, edit_address
from billing.customers.lookup import get_customer
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from models import Customer, ServiceMode


def may_edit_profile(customer: Customer) -> bool:
    """Only self-service customers maintain their own company data."""
    return (
        customer.service_mode == ServiceMode.SELF_SERVICE.value
        and customer.marked_for_deletion_at is None
    )


def edit_own_address(
    customer_id: int,
    data: AddressInput,
    actor: Actor,
    clock: Clock,
    home_country: str,
    expected_version: int | None = None,
) -> Customer:
    """Store the customer's own address through ``billing.customers.addresses.edit_address``.

    Raises DomainError for a managed customer ("managed by your provider"), Conflict when the
    record changed since ``expected_version``, and the address validation's DomainErrors.
    """
    customer = get_customer(customer_id)
    if not may_edit_profile(customer):
        raise DomainError(_("Your company data is managed by your provider."))
    return edit_address(
        customer_id,
        data,
        actor,
        clock,
        home_country=home_country,
        expected_version=expected_version,
        managed_only=False,
    )
