"""Customer groups (Aquila BillOps, SPEC §11): a unique name, key=value attributes, tags, and
the customers that are members."""

from __future__ import annotations

import re

from sqlalchemy import func

from billing.customers.lookup import get_customer
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from models import Customer, CustomerGroup, Tag, customer_group_members, db

NAME_MAX = 100
TAG_MAX = 64
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")
VALUE_MAX = 200


def groups() -> list[CustomerGroup]:
    return db.session.scalars(
        db.select(CustomerGroup).order_by(func.lower(CustomerGroup.name))
    ).all()


def get_group(group_id: int) -> CustomerGroup:
    group = db.session.get(CustomerGroup, group_id)
    if group is None:
        raise NotFound(_("This group does not exist."))
    return group


def member_count(group_id: int) -> int:
    return db.session.scalar(
        db.select(func.count())
        .select_from(customer_group_members)
        .where(customer_group_members.c.group_id == group_id)
    )


def member_counts() -> dict[int, int]:
    return dict(
        db.session.execute(
            db.select(customer_group_members.c.group_id, func.count()).group_by(
                customer_group_members.c.group_id
            )
        ).all()
    )


def parse_attributes(text: str) -> dict[str, str]:
    """``key=value`` pairs, one a line (blank lines ignored); DomainError (field
    ``attributes``) naming the line for anything else or a key given twice."""
    result: dict[str, str] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not KEY_PATTERN.match(key) or len(value) > VALUE_MAX:
            raise DomainError(
                _("Line %(n)d: please write key=value.", n=number), field="attributes"
            )
        if key in result:
            raise DomainError(
                _("Line %(n)d: the key %(key)s is given twice.", n=number, key=key),
                field="attributes",
            )
        result[key] = value
    return result


def format_attributes(attributes: dict) -> str:
    return "\n".join(f"{k}={v}" for k, v in (attributes or {}).items())


def parse_tags(text: str) -> list[str]:
    names = []
    for raw in (text or "").split(","):
        name = raw.strip()
        if not name:
            continue
        if len(name) > TAG_MAX:
            raise DomainError(_("At most %(n)d characters.", n=TAG_MAX), field="tags")
        if name.lower() not in (n.lower() for n in names):
            names.append(name)
    return names


def _tags(names: list[str]) -> list[Tag]:
    tags = []
    for name in names:
        tag = db.session.scalar(db.select(Tag).where(func.lower(Tag.name) == name.lower()))
        if tag is None:
            tag = Tag(name=name)
            db.session.add(tag)
        tags.append(tag)
    return tags


def _clean(name: str, attributes: str, tags: str, group_id: int | None):
    clean_name = (name or "").strip()
    if not clean_name:
        raise DomainError(_("Please enter the name."), field="name")
    if len(clean_name) > NAME_MAX:
        raise DomainError(_("At most %(n)d characters.", n=NAME_MAX), field="name")
    query = db.select(CustomerGroup.id).where(func.lower(CustomerGroup.name) == clean_name.lower())
    if group_id is not None:
        query = query.where(CustomerGroup.id != group_id)
    if db.session.scalar(query) is not None:
        raise DomainError(_("A group with this name exists already."), field="name")
    return clean_name, parse_attributes(attributes), parse_tags(tags)


def save_group(
    group_id: int | None, name: str, attributes: str, tags: str, actor: Actor, clock: Clock
) -> CustomerGroup:
    """Create (``group_id`` None) or change a group. Attributes are ``key=value`` lines, tags a
    comma-separated list (unknown tags are created). DomainError with the field otherwise."""
    group = get_group(group_id) if group_id is not None else None
    clean_name, attrs, tag_names = _clean(name, attributes, tags, group_id)
    before = (
        {"name": group.name, "attributes": group.attributes, "tags": [t.name for t in group.tags]}
        if group
        else None
    )
    tags = _tags(tag_names)
    if group is None:
        group = CustomerGroup(created_at=clock.now())
        db.session.add(group)
    group.name, group.attributes, group.tags = clean_name, attrs, tags
    db.session.flush()
    audit.record(
        actor,
        "group.edit" if before else "group.create",
        clock,
        before=before,
        after={"id": group.id, "name": clean_name, "attributes": attrs, "tags": tag_names},
    )
    db.session.commit()
    return group


def delete_group(group_id: int, actor: Actor, clock: Clock) -> int:
    """Delete a group; its customers stay, they just leave it. Returns how many were members."""
    group = get_group(group_id)
    members = member_count(group_id)
    before = {"id": group.id, "name": group.name, "members": members}
    db.session.delete(group)
    audit.record(actor, "group.delete", clock, before=before)
    db.session.commit()
    return members


def customer_group_ids(customer_id: int) -> list[int]:
    return list(
        db.session.scalars(
            db.select(customer_group_members.c.group_id).where(
                customer_group_members.c.customer_id == customer_id
            )
        )
    )


def set_customer_groups(
    customer_id: int, group_ids: list[int], actor: Actor, clock: Clock
) -> list[CustomerGroup]:
    """Make the customer a member of exactly ``group_ids``; NotFound for an unknown group."""
    customer: Customer = get_customer(customer_id)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    wanted = [get_group(int(gid)) for gid in dict.fromkeys(group_ids)]
    before = sorted(customer_group_ids(customer_id))
    db.session.execute(
        customer_group_members.delete().where(customer_group_members.c.customer_id == customer_id)
    )
    if wanted:
        db.session.execute(
            customer_group_members.insert(),
            [{"group_id": g.id, "customer_id": customer_id} for g in wanted],
        )
    after = sorted(g.id for g in wanted)
    if before != after:
        audit.record(
            actor,
            "customer.groups",
            clock,
            customer_id=customer_id,
            before={"groups": before},
            after={"groups": after},
        )
    db.session.commit()
    return wanted


def group_members(group_id: int):
    """A subquery of the ids of the group's customers (for the customer list's Group filter)."""
    return db.select(customer_group_members.c.customer_id).where(
        customer_group_members.c.group_id == group_id
    )
