"""`.streamlit/config.toml` keeps its security settings (issue 5): a test, not a hope."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
SECRETS_EXAMPLE = CONFIG.with_name("secrets.toml.example")


def test_streamlit_config_is_hardened() -> None:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["enableCORS"] is True
    assert config["server"]["enableStaticServing"] is False
    assert 0 < config["server"]["maxUploadSize"] <= 50  # megabytes
    assert config["client"]["showErrorDetails"] == "none"  # no tracebacks for users
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["browser"]["gatherUsageStats"] is False
    # A signing secret never lives in a committed file.
    assert "cookieSecret" not in config["server"]


def test_the_secrets_example_holds_only_refused_placeholders() -> None:
    from billing.deployment import EXAMPLE_SECRETS

    example = tomllib.loads(SECRETS_EXAMPLE.read_text(encoding="utf-8"))
    assert example["auth"]["cookie_key"] in EXAMPLE_SECRETS
