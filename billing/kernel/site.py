"""The deployment's own values that billing rules need, handed in like the clock.

``Site`` holds where the product is reached (``PUBLIC_URL``, for links in e-mails), its name
(``PRODUCT_NAME``, the seller and sender when none is set), the MSP's home country
(``HOME_COUNTRY``, for VAT and addresses), its currency (``CURRENCY``) and its time zone
(``APP_TIMEZONE``, the calendar of the dates an invoice shows; the clock has the same). Views
and jobs build it from the app's configuration (``Site.of``) and pass it in, so billing does
not reach into Flask's application context for them. The defaults are those of a
configuration that sets none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Site:
    public_url: str = "http://127.0.0.1:5000"
    product_name: str = "MSP Billing"
    home_country: str = "DE"
    currency: str = "EUR"
    timezone: str = "Europe/Berlin"

    @classmethod
    def of(cls, config: Mapping) -> Site:
        """The values of an app's configuration (``app.config``)."""
        return cls(
            public_url=config["PUBLIC_URL"],
            product_name=config["PRODUCT_NAME"],
            home_country=config["HOME_COUNTRY"],
            currency=config["CURRENCY"],
            timezone=config["APP_TIMEZONE"],
        )
