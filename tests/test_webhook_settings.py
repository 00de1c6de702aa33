"""The gateways' webhook secrets (TIER2_SMS_WEBHOOK_SECRET, TIER2_WHATSAPP_WEBHOOK_SECRET) and
their rate are read from the environment and checked at start-up, as tests/test_settings.py
checks the others."""

import pytest

from tests.test_settings import load_settings, probe_settings

STRONG_SMS = "s" * 16 + "m" * 16
STRONG_WHATSAPP = "w" * 16 + "a" * 16
NAMES = ("TIER2_SMS_WEBHOOK_SECRET", "TIER2_WHATSAPP_WEBHOOK_SECRET", "REST_FRAMEWORK")


def test_the_webhooks_are_off_by_default_with_their_own_rate():
    values = probe_settings(NAMES)
    assert (values["TIER2_SMS_WEBHOOK_SECRET"], values["TIER2_WHATSAPP_WEBHOOK_SECRET"]) == ("", "")
    assert values["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"]["receipts"] == "3000/min"


def test_the_secrets_and_the_rate_come_from_the_environment():
    values = probe_settings(
        NAMES,
        TIER2_SMS_WEBHOOK_SECRET=f"  {STRONG_SMS} ",
        TIER2_WHATSAPP_WEBHOOK_SECRET=STRONG_WHATSAPP,
        TIER2_API_RATE_RECEIPTS="100/s",
    )
    assert values["TIER2_SMS_WEBHOOK_SECRET"] == STRONG_SMS
    assert values["TIER2_WHATSAPP_WEBHOOK_SECRET"] == STRONG_WHATSAPP
    assert values["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"]["receipts"] == "100/s"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TIER2_SMS_WEBHOOK_SECRET": "s" * 31}, "TIER2_SMS_WEBHOOK_SECRET"),
        (
            {"TIER2_WHATSAPP_WEBHOOK_SECRET": "change-me" + "w" * 30},
            "TIER2_WHATSAPP_WEBHOOK_SECRET",
        ),
        (
            {"TIER2_SMS_WEBHOOK_SECRET": STRONG_SMS, "TIER2_WHATSAPP_WEBHOOK_SECRET": STRONG_SMS},
            "must differ",
        ),
        ({"TIER2_API_RATE_RECEIPTS": "lots"}, "TIER2_API_RATE_RECEIPTS"),
    ],
    ids=["short", "example-placeholder", "the-same-for-both", "bad-rate"],
)
def test_weak_or_shared_secrets_are_refused_at_start(env, named):
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr
