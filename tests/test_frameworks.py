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


def test_a_lora_adapter_does_not_make_the_run_llamafactory(tmp_path):
    """A PEFT adapter_config.json (or TRL's use_peft) becomes `finetuning_type: lora` in the canonical config; that
    says LoRA, not LLaMA-Factory. A TRL KTO checkpoint with its adapter was called LLaMA-Factory (stated), and got
    that framework's summed-kl facts."""
    import json

    import kto_doctor
    from kto_doctor.config import normalize
    from kto_doctor.run import detect_framework

    names = {"rewards/chosen": None, "kl": None}
    assert detect_framework(normalize({"peft_type": "LORA", "r": 8}, "adapter_config"), [], names)[0] == "trl"
    assert detect_framework(normalize({"use_peft": True}), [], names)[0] == "trl"
    ck = tmp_path / "checkpoint-30"
    ck.mkdir()
    (ck / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16}))
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": 30, "log_history": [
        {"step": s, "loss": 0.5, "kl": 0.1 * s, "rewards/chosen_sum": 1.0, "rewards/rejected_sum": -1.0,
         "logps/chosen_sum": -100.0, "count/chosen": 4} for s in (10, 20, 30)]}))
    run = kto_doctor.load_run(tmp_path)
    assert run.framework != "llamafactory" and run.config.get("finetuning_type") == "lora"
    assert run.config.get("kl_reduction") != "window_sum"
