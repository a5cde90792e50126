"""Catalog data files, name resolution and Hugging Face config import."""

import json
import re

import pytest

from simulator.catalog import (hardware_names, hardware_rows, model_names, model_rows, resolve_hardware,
                               resolve_model)
from simulator.errors import InputError

REQUIRED_HARDWARE = {"a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "b200", "l40s", "l4", "mi300x",
                     "mi325x", "gaudi-3", "rtx-4090", "rtx-5090", "rtx-pro-6000"}
REQUIRED_MODELS = {"llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-4-scout",
                   "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-72b", "gemma-2-9b", "deepseek-v2-lite",
                   "deepseek-v3", "phi-3-mini"}


def test_catalogs_hold_the_required_rows_with_sources():
    assert REQUIRED_HARDWARE <= set(hardware_names())
    assert REQUIRED_MODELS <= set(model_names())
    for row in [*model_rows(), *hardware_rows()]:
        assert re.fullmatch(r"[a-z0-9]+(?:[.-][a-z0-9]+)*", row.name), row.name
        assert row.source.strip()


def test_every_catalog_entry_builds_a_profile():
    for name in hardware_names():
        profile = resolve_hardware(name)
        assert profile.reserved_usd_per_gpu_hour <= profile.on_demand_usd_per_gpu_hour
        assert profile.spot_usd_per_gpu_hour <= profile.reserved_usd_per_gpu_hour
    for name in model_names():
        assert resolve_model(name).params_active > 0


def test_unknown_names_suggest_the_closest():
    with pytest.raises(InputError, match="did you mean llama-3.1-8b"):
        resolve_model("llama-3-8b")
    with pytest.raises(InputError, match="h100-sxm"):
        resolve_hardware("h100sxm")


LLAMA_31_8B_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "tie_word_embeddings": False,
}
MIXTRAL_CONFIG = {
    "model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 32768,
    "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": None,
}
DEEPSEEK_V3_CONFIG = {
    "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
    "num_attention_heads": 128, "num_hidden_layers": 61, "num_key_value_heads": 128, "vocab_size": 129280,
    "max_position_embeddings": 163840, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128, "v_head_dim": 128, "n_routed_experts": 256, "n_shared_experts": 1,
    "num_experts_per_tok": 8, "first_k_dense_replace": 3,
}


@pytest.mark.parametrize("config,catalog_name,tolerance", [
    (LLAMA_31_8B_CONFIG, "llama-3.1-8b", 0.01),
    (MIXTRAL_CONFIG, "mixtral-8x7b", 0.02),
    (DEEPSEEK_V3_CONFIG, "deepseek-v3", 0.02),
])
def test_hf_config_import_matches_catalog_parameter_counts(tmp_path, config, catalog_name, tolerance):
    path = tmp_path / catalog_name / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    imported = resolve_model(str(path))
    catalog = resolve_model(catalog_name)
    assert imported.params_total == pytest.approx(catalog.params_total, rel=tolerance)
    assert imported.params_active == pytest.approx(catalog.params_active, rel=tolerance)
    assert imported.kv_elements_per_token_per_layer() == catalog.kv_elements_per_token_per_layer()
    assert imported.attention == catalog.attention


def test_hf_config_windows(tmp_path):
    gemma = {"model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "num_attention_heads": 16,
             "num_hidden_layers": 42, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 256000,
             "max_position_embeddings": 8192, "sliding_window": 4096, "tie_word_embeddings": True}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(gemma))
    model = resolve_model(str(path))
    assert model.layer_groups() == resolve_model("gemma-2-9b").layer_groups()


def test_bad_model_files_are_input_errors(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="malformed JSON"):
        resolve_model(str(path))
    path.write_text(json.dumps({"hidden_size": 10}))
    with pytest.raises(InputError, match="num_hidden_layers"):
        resolve_model(str(path))
    with pytest.raises(InputError, match="not found"):
        resolve_model(str(tmp_path / "missing.json"))


def test_hardware_profile_file_with_base_and_overrides(tmp_path):
    path = tmp_path / "my-h100.yaml"
    path.write_text("base: h100-sxm\nmemory_bandwidth_tb_s: 3.0\non_demand_usd_per_gpu_hour: 1.5\n"
                    "efficiency:\n  matmul_efficiency_max: 0.5\n  matmul_half_saturation_tokens: 10\n"
                    "  attention_efficiency_max: 0.5\n  attention_half_saturation_tokens: 100\n"
                    "  bandwidth_efficiency: 0.9\n  iteration_overhead_s: 0.001\n  allreduce_latency_s: 0.0\n"
                    "  interconnect_efficiency: 0.8\n")
    profile = resolve_hardware(str(path))
    assert profile.memory_bandwidth_bytes_per_s == 3.0e12
    assert profile.bf16_flops_per_s == resolve_hardware("h100-sxm").bf16_flops_per_s
    assert profile.curves.matmul_efficiency_max == 0.5
    assert profile.on_demand_usd_per_gpu_hour == 1.5
    path.write_text("base: h100-sxm\nmemory_gb: -1\n")
    with pytest.raises(InputError, match="memory_gb"):
        resolve_hardware(str(path))


def test_every_result_says_where_its_hardware_numbers_come_from(tmp_path, chat_scenario):
    """Provenance: the catalog's datasheet default, a calibration (device and date as recorded), or a user file."""
    from simulator.catalog import resolve_hardware
    from simulator.comparisons.compare import compare
    from simulator.results.runner import run
    from simulator.specs.scenario import ScenarioSpec
    assert resolve_hardware("h100-sxm").provenance.startswith("datasheet default")
    calibrated = tmp_path / "mine.yaml"
    calibrated.write_text("base: h100-sxm\ncalibration: {device: NVIDIA H100 80GB HBM3, date: '2026-11-30'}\n")
    assert resolve_hardware(str(calibrated)).provenance.startswith("calibrated on NVIDIA H100 80GB HBM3 at 2026-11-30")
    edited = tmp_path / "edited.yaml"
    edited.write_text("base: h100-sxm\nmemory_bandwidth_tb_s: 3.0\n")
    assert resolve_hardware(str(edited)).provenance == "user profile edited.yaml over catalog entry h100-sxm"
    chat_scenario["workload"]["num_requests"] = 20
    chat_scenario["deployments"].append({"name": "mine", "model": "llama-3.1-8b", "hardware": str(calibrated)})
    spec = ScenarioSpec.model_validate(chat_scenario)
    simulated = run(spec).to_model().deployments
    assert [d.hardware_provenance.split(" ")[0] for d in simulated] == ["datasheet", "calibrated"]
    rows = compare(spec, search_capacity=False).deployments
    assert [r.hardware_provenance for r in rows] == [d.hardware_provenance for d in simulated]
