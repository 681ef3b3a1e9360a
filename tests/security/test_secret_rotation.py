"""``flask secrets rotate``: stored secrets move to the first key of ENCRYPTION_KEYS (SPEC §13,
"encrypted secrets"; SPEC §6 and §7 for the Stripe and SMTP secrets)."""

from __future__ import annotations

from cryptography.fernet import Fernet

from billing.kernel.audit import SYSTEM
from billing.kernel.mail import load_mail_settings, save_mail_settings
from billing.payments import stripe_account
from models import AuditEvent, Setting, db

SECRETS = ("mail.password", "stripe.secret_key", "stripe.webhook_secret")


def _store_secrets(app, localstripe) -> None:
    clock = app.config["CLOCK"]
    app.config["STRIPE_API_BASE"] = localstripe.url
    save_mail_settings(
        "mail.example",
        587,
        "starttls",
        "mailer",
        "smtp-pass-1",
        "MSP",
        "b@msp.example",
        SYSTEM,
        clock,
    )
    stripe_account.save_stripe_keys("sk_test_rotation42", "pk_test_rotation42", SYSTEM, clock)
    stripe_account.save_webhook_secret("whsec_rotation42", SYSTEM, clock)


def _stored(key: str) -> str:
    db.session.expire_all()
    return db.session.get(Setting, key).value


def test_rotate_moves_every_secret_to_the_new_key_and_is_idempotent(app, runner, localstripe):
    """SPEC §13: after a new key is put in front, ``flask secrets rotate`` re-encrypts the
    SMTP password, Stripe secret key and webhook secret with it; the old key can then be dropped
    and the product still reads them. A second run changes nothing."""
    old_key = app.config["ENCRYPTION_KEYS"]
    _store_secrets(app, localstripe)
    new_key = Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = f"{new_key},{old_key}"

    result = runner.invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 3 secret(s)" in result.output
    tokens = {key: _stored(key) for key in SECRETS}
    for token in tokens.values():
        Fernet(new_key.encode()).decrypt(token.encode())
    assert (
        db.session.scalar(
            db.select(db.func.count()).where(AuditEvent.action == "settings.rotate_secrets")
        )
        == 1
    )

    again = runner.invoke(args=["secrets", "rotate"])
    assert again.exit_code == 0, again.output
    assert "Re-encrypted 0 secret(s)" in again.output and "3 already used it" in again.output
    assert {key: _stored(key) for key in SECRETS} == tokens

    app.config["ENCRYPTION_KEYS"] = new_key
    assert load_mail_settings().password == "smtp-pass-1"
    assert stripe_account.stored_secret_key() == "sk_test_rotation42"


def test_rotate_refuses_and_changes_nothing_when_a_secret_cannot_be_opened(
    app, runner, localstripe
):
    """SPEC §13: a secret encrypted with a key that is no longer configured is named, and no
    other secret is rewritten (the command fails rather than half-rotating)."""
    _store_secrets(app, localstripe)
    before = {key: _stored(key) for key in SECRETS}
    app.config["ENCRYPTION_KEYS"] = Fernet.generate_key().decode()

    result = runner.invoke(args=["secrets", "rotate"])
    assert result.exit_code != 0
    assert "mail.password" in result.output and "Nothing was changed" in result.output
    assert {key: _stored(key) for key in SECRETS} == before
