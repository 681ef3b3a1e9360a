"""Which actions apply to a customer (SPEC §3, §4, §11): the one decider behind the list's row
menu, the customer's page and the endpoints' checks."""

from __future__ import annotations

from sqlalchemy import literal, union_all

from billing.customers.lookup import current_subscription, other_main_user_candidates
from models import Customer, CustomerStatus, ServiceMode, Subscription, SubscriptionState, User, db

OTHER_USER, SUBSCRIBED = "other_user", "subscribed"


def available_actions(
    customer: Customer, has_other_user: bool | None = None, has_subscription: bool | None = None
) -> list[str]:
    """The actions on ``customer`` whose precondition holds: SPEC §3's row actions, lock or
    unlock and cancel (§4), the Flexiant tools (§11) and the edits of the customer's page.
    A customer marked for deletion only has its details. ``has_other_user`` (another enabled,
    registered user) and ``has_subscription`` (a current main subscription) are looked up when
    not given (``available_actions_for`` gives them for a whole page)."""
    if customer.marked_for_deletion_at is not None:
        return ["details"]
    from billing.subscriptions.service_subscriptions import may_add_service

    if has_other_user is None:
        has_other_user = bool(other_main_user_candidates(customer.id))
    if has_subscription is None:
        has_subscription = current_subscription(customer.id) is not None
    managed = customer.service_mode == ServiceMode.MANAGED.value
    actions = []
    if not managed:
        actions.append("convert")
    actions.append("ip_distribution")
    if customer.status == CustomerStatus.INVITED.value:
        actions.append("resend_invite")
    actions += ["details", "unlock" if customer.locked else "lock"]
    if has_subscription:
        actions.append("cancel_subscription")
    if managed:
        actions += ["add_project_key", "edit_address"]
    if has_other_user:
        actions.append("change_main_user")
    actions += ["create_similar", "send_email"]
    # the main user can sign in: registered, not locked (the status says both)
    if customer.status in (CustomerStatus.ACTIVE.value, CustomerStatus.INACTIVE.value):
        actions.append("impersonate")
    actions += ["delete", "edit_profile", "edit_tags", "set_language", "assign_partner"]
    # which team user's invite can be resent or withdrawn: ``team.member_actions``
    actions += ["book_ledger", "resend_team_invite", "withdraw_team_invite"]
    if managed:
        actions.append("set_price")
    if may_add_service(customer):
        actions.append("add_subscription")
    return actions


def available_actions_for(customers: list[Customer]) -> dict[int, list[str]]:
    """``available_actions`` for a page of customers with one query (which of them have
    another enabled, registered user, and which a current main subscription)."""
    ids = [c.id for c in customers]
    if not ids:
        return {}
    other_users = (
        db.select(User.customer_id, literal(OTHER_USER))
        .where(
            User.customer_id.in_(ids),
            User.is_main.is_(False),
            User.enabled.is_(True),
            User.registered_at.is_not(None),
        )
        .distinct()
    )
    subscribed = db.select(Subscription.customer_id, literal(SUBSCRIBED)).where(
        Subscription.customer_id.in_(ids),
        Subscription.state == SubscriptionState.ACTIVE.value,
    )
    found = set(db.session.execute(union_all(other_users, subscribed)).tuples())
    return {
        c.id: available_actions(c, (c.id, OTHER_USER) in found, (c.id, SUBSCRIBED) in found)
        for c in customers
    }
