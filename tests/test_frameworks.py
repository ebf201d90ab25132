"""What a framework's numbers mean reaches rules as configuration facts, never as framework names."""
from __future__ import annotations

import pytest

from kto_doctor.frameworks import facts, version_tuple


def test_llamafactory_kto_kl_is_a_window_sum():
    f = facts("llamafactory", "kto", {"gradient_accumulation_steps": 8, "logging_steps": 5})
    assert f == {"kl_reduction": "window_sum", "kl_window": 40, "logits_reduction": "sum"}
    # the window is unknown without both numbers, but the reduction is still stated
    assert facts("llamafactory", "kto", {})["kl_reduction"] == "window_sum" and "kl_window" not in facts(
        "llamafactory", "kto", {})
    # LLaMA-Factory 0.9.0 and earlier used TRL's mean
    assert facts("llamafactory", "kto", {"llamafactory_version": "0.9.0"}) == {"kl_reduction": "mean"}


@pytest.mark.parametrize("version,reduction", [("0.9.6", "mean"), ("0.11.4", "sum"), ("1.8.2", "sum"),
                                               ("1.9.0", "mean"), ("1.10.0.dev0", "mean"), (None, None)])
def test_trl_kto_logits_reduction_follows_the_version(version, reduction):
    f = facts("trl", "kto", {"trl_version": version} if version else {})
    assert f.get("logits_reduction") == reduction and f["kl_reduction"] == "mean"


def test_other_methods_get_no_kto_facts():
    assert facts("llamafactory", "dpo", {"gradient_accumulation_steps": 8, "logging_steps": 5}) == {}
    assert version_tuple("v0.9.1.dev0") == (0, 9, 1) and version_tuple("main") is None


def test_a_max_length_in_a_trl_config_does_not_make_the_run_llamafactory():
    """TRL's `max_length` / `max_seq_length` are normalised to `cutoff_len`; only LLaMA-Factory's own keys (or
    its YAML, recognised by the config reader) say LLaMA-Factory, else TRL KTO runs got its kl-window facts."""
    from kto_doctor.config import normalize
    from kto_doctor.run import detect_framework

    names = {"rewards/chosen": None, "kl": None}
    assert detect_framework(normalize({"max_length": 1024, "beta": 0.1}), [], names)[0] == "trl"
    assert detect_framework(normalize({"max_seq_length": 2048}), [], names)[0] == "trl"
    assert detect_framework(normalize({"stage": "kto", "cutoff_len": 1024}), [], names) == ("llamafactory", "stated")
