"""Portal: the company profile (SPEC §10). Self-service customers edit their address, VAT-ID and
billing address with the admin's validation; managed customers read them."""

from __future__ import annotations

from dataclasses import fields

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from billing.customers.addresses import AddressInput, address_of
from billing.customers.profile import edit_own_address, may_edit_profile
from billing.kernel.audit import Actor
from billing.kernel.countries import country_name
from billing.kernel.errors import DomainError

from . import bp
from .forms import ProfileForm, form_error
from .security import client_ip, clock, portal_user, user_required


@bp.route("/company", methods=("GET", "POST"))
@user_required
def profile():
    user = portal_user()
    customer = user.customer
    home_country = current_app.config["HOME_COUNTRY"]
    editable = may_edit_profile(customer)
    form = ProfileForm(obj=address_of(customer), version=customer.version)
    if editable and form.validate_on_submit():
        data = AddressInput(**{f.name: form[f.name].data for f in fields(AddressInput)})
        try:
            edit_own_address(
                customer.id,
                data,
                Actor.user(user, client_ip()),
                clock(),
                home_country=home_country,
                expected_version=form.seen_version(),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Your company data was saved."), "success")
            return redirect(url_for("portal.profile"))
    elif not editable and form.is_submitted():
        flash(_("Your company data is managed by your provider."), "error")
        return redirect(url_for("portal.profile"))
    return render_template(
        "portal/profile.html",
        form=form,
        customer=customer,
        editable=editable,
        country_name=country_name,
        home_country_name=country_name(home_country),
    )
