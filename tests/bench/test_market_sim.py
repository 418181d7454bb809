"""The market simulator runs through the real system, and refuses a bad market file clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.market_sim import DEFAULT_MARKET, MarketFileError, load_market, main

# Every shopper visits every day, carts and leaves: each day brings a cart reminder to decide.
TINY = {
    "name": "tiny",
    "timezones": {"America/New_York": 1},
    "categories": {"Shoes": 1},
    "category_concentration": 1.0,
    "whatsapp_share": 0.5,
    "visit_rate": {"fixed": 1.0},
    "cart_rate": {"fixed": 1.0},
    "checkout_rate": {"fixed": 0.0},
    "natural_purchase_rate": {"fixed": 0.2},
    "channel_responsiveness": {"sms": {"fixed": 0.9}, "whatsapp": {"fixed": 0.9}},
    "active_hours": {"start": {"fixed": 9}, "length": {"fixed": 12}},
    "inactive_response_factor": 0.5,
    "click_to_purchase": {"fixed": 0.5},
    "discount_sensitivity": {"beta": [2, 2]},
    "fatigue": {"base": {"fixed": 0.2}, "per_message": {"fixed": 0.2}},
}


def test_a_tiny_market_goes_through_the_real_paths(tmp_path: Path) -> None:
    market = tmp_path / "tiny.json"
    market.write_text(json.dumps(TINY))
    out = tmp_path / "result.json"
    args = ["--market", str(market), "--customers", "4", "--days", "2", "--out", str(out)]
    assert main([*args, "--seed", "3"]) == 0
    result = json.loads(out.read_text())
    assert result["market"] == "tiny" and result["seed"] == 3
    assert len(result["conversion_difference_95ci"]) == 2
    for name in ("static_rules", "chatcommerce"):
        policy = result["policies"][name]
        assert set(policy) >= {
            "conversions",
            "incremental_conversions",
            "messages_sent",
            "opt_outs",
            "discount_cost",
            "revenue",
        }
        # Decisions were logged by the real trigger worker, and sends reached the fake Twilio.
        assert policy["decisions"] > 0
        assert policy["messages_sent"] > 0
        # What the simulator knows and the system can only estimate, and where it came from.
        assert policy["caused_conversions"] <= policy["answered_orders"] <= policy["conversions"]
        tallied = sum(counts[0] for counts in policy["responses"].values())
        assert 0 < tallied <= policy["messages_sent"]
    static = result["policies"]["static_rules"]
    # The rule book: SMS only, the discount on every message the policy allows it on.
    assert static["messages_by_channel"]["whatsapp"] == 0
    assert static["messages_with_discount"] > 0


def test_the_bundled_markets_are_valid() -> None:
    for path in DEFAULT_MARKET.parent.glob("*.json"):
        assert load_market(path).name == path.stem


def test_a_bad_market_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**TINY, "visit_rate": {"beta": [0, 2]}}))
    with pytest.raises(MarketFileError, match=r"visit_rate"):
        load_market(bad)
    bad.write_text(json.dumps({**TINY, "categories": {"Boats": 1}}))
    with pytest.raises(MarketFileError, match=r"categories.*Boats"):
        load_market(bad)
    missing = {k: v for k, v in TINY.items() if k != "fatigue"}
    bad.write_text(json.dumps(missing))
    with pytest.raises(MarketFileError, match=r"fatigue: Field required"):
        load_market(bad)


def test_the_command_refuses_a_bad_market(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**TINY, "whatsapp_share": 2}))
    assert main(["--market", str(bad), "--out", str(tmp_path / "r.json")]) == 2
    assert "whatsapp_share" in capsys.readouterr().err
