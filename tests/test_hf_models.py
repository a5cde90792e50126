"""Hugging Face config.json import (issue 14): supported families, refusals, names, repo ids."""

import json

import pytest

from simulator.catalog import resolve_model
from simulator.catalog.hf_config import SUPPORTED_MODEL_TYPES, size_label
from simulator.errors import InputError
from simulator.costs.model import AttentionKind, WindowKind

SMALL = {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2,
         "intermediate_size": 512, "vocab_size": 1000, "max_position_embeddings": 2048}
ATTENTION = 256 * (8 + 2 * 2) * 32 + 8 * 32 * 256        # q, k, v and o of SMALL
GATED_MLP = 3 * 256 * 512
EMBED = 2 * 1000 * 256
MLA = {"kv_lora_rank": 64, "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 32}
GPT_NEOX_20B = {"model_type": "gpt_neox", "hidden_size": 6144, "num_hidden_layers": 44, "num_attention_heads": 64,
                "intermediate_size": 24576, "vocab_size": 50432, "max_position_embeddings": 2048,
                "tie_word_embeddings": False, "use_parallel_residual": True, "rotary_pct": 0.25}

# model_type -> (a small config of the family, what its import must show)
FAMILIES = {
    "llama": ({}, lambda m: m.attention is AttentionKind.GQA and m.params_total == 2 * (ATTENTION + GATED_MLP) + EMBED),
    "mistral": ({"sliding_window": 1024}, lambda m: m.local_window_tokens == 1024 and m.global_every == 0),
    "mixtral": ({"num_local_experts": 4, "num_experts_per_tok": 2},
                lambda m: m.num_experts == 4 and m.params_active < m.params_total),
    "qwen2": ({"sliding_window": 2048, "use_sliding_window": False, "tie_word_embeddings": True},
              lambda m: m.local_window_tokens is None and m.tie_word_embeddings),
    "qwen2_moe": ({"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128,
                   "shared_expert_intermediate_size": 512},
                  lambda m: m.params_active == 2 * (ATTENTION + GATED_MLP + 2 * 3 * 256 * 128 + 256 * 4) + EMBED),
    "qwen3": ({"head_dim": 64}, lambda m: m.head_dim == 64 and m.kv_elements_per_token_per_layer() == 2 * 2 * 64),
    "qwen3_moe": ({"num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 128},
                  lambda m: m.num_experts == 8 and m.experts_per_token == 2),
    "gemma": ({"head_dim": 64, "tie_word_embeddings": True}, lambda m: m.head_dim == 64 and m.tie_word_embeddings),
    "gemma2": ({"sliding_window": 512}, lambda m: m.local_window_tokens == 512 and m.global_every == 2),
    "phi3": ({"sliding_window": 2047}, lambda m: m.local_window_tokens == 2047),
    "llama4": ({"text_config": {**SMALL, "model_type": "llama4_text", "attention_chunk_size": 1024,
                                "num_local_experts": 4, "num_experts_per_tok": 1, "interleave_moe_layer_step": 1}},
               lambda m: m.local_kind is WindowKind.CHUNKED and m.num_experts == 4),
    "llama4_text": ({"attention_chunk_size": 1024}, lambda m: m.local_kind is WindowKind.CHUNKED),
    "deepseek_v2": ({**MLA, "n_routed_experts": 4, "num_experts_per_tok": 2, "first_k_dense_replace": 1},
                    lambda m: m.attention is AttentionKind.MLA and m.kv_elements_per_token_per_layer() == 80),
    "deepseek_v3": ({**MLA, "q_lora_rank": 128}, lambda m: m.attention is AttentionKind.MLA),
    "gpt_neox": ({"num_key_value_heads": 8},
                 lambda m: m.attention is AttentionKind.MHA and m.params_total == 2 * (256 * 256 * 4 + 2 * 256 * 512)
                 + EMBED),
}


def write(tmp_path, config, folder="configs", name="config.json"):
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


def test_the_tests_cover_every_supported_family():
    assert set(FAMILIES) == set(SUPPORTED_MODEL_TYPES)
    assert {"qwen3", "qwen3_moe", "gpt_neox", "llama", "mixtral", "deepseek_v3", "llama4"} <= set(FAMILIES)


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_one_small_config_of_each_supported_family_loads(tmp_path, model_type):
    extra, check = FAMILIES[model_type]
    model = resolve_model(str(write(tmp_path, {**SMALL, "model_type": model_type, **extra})))
    assert check(model), model
    assert model.name.startswith(model_type.replace("_", "-") + "-") and not model.name.startswith("configs")
    assert not any("not supported" in note for note in model.notes)


def test_gpt_neox_20b_has_a_plain_mlp_and_20_6b_parameters(tmp_path):
    model = resolve_model(str(write(tmp_path, GPT_NEOX_20B)))
    assert model.params_total == pytest.approx(20.6e9, rel=0.005)       # was 27.2e9, read as a gated MLP
    assert model.attention is AttentionKind.MHA and model.head_dim == 96 and model.max_context_tokens == 2048
    assert model.name == "gpt-neox-20b"
    assert any("parallel" in note for note in model.notes)


def test_an_unsupported_model_type_is_an_error_listing_the_supported(tmp_path):
    bloom = {"model_type": "bloom", "hidden_size": 1024, "n_layer": 24, "n_head": 16, "vocab_size": 250880}
    with pytest.raises(InputError) as error:
        resolve_model(str(write(tmp_path, bloom)))
    message = str(error.value)
    assert "model_type: 'bloom' is not supported" in message and "intermediate_size" in message
    for family in ("llama", "qwen3", "qwen3_moe", "gpt_neox", "deepseek_v3", "gemma2", "phi3"):
        assert family in message.split("allowed: ")[1]
    falcon = {**SMALL, "model_type": "falcon"}
    falcon.pop("intermediate_size")
    with pytest.raises(InputError, match="'falcon' is not supported, and the config lacks intermediate_size"):
        resolve_model(str(write(tmp_path, falcon)))


def test_an_unsupported_model_type_with_every_field_loads_with_its_assumptions(tmp_path):
    model = resolve_model(str(write(tmp_path, {**SMALL, "model_type": "starcoder2"})))
    assert model.params_total == 2 * (ATTENTION + GATED_MLP) + EMBED
    [note] = model.notes
    assert "'starcoder2' is not supported" in note and "gated MLP" in note and "assumed" in note
    untyped = resolve_model(str(write(tmp_path, SMALL, folder="untyped")))
    assert untyped.notes[0].startswith("no model_type") and untyped.name == "untyped"


def test_defaults_taken_for_a_supported_family_are_noted(tmp_path):
    config = {**SMALL, "model_type": "llama"}
    del config["max_position_embeddings"]
    model = resolve_model(str(write(tmp_path, config)))
    assert model.max_context_tokens == 4096 and "max_position_embeddings missing" in model.notes[0]


@pytest.mark.parametrize("value", ["12", 0, -3, 1.5, True])
def test_a_bad_field_value_is_an_error_naming_the_field(tmp_path, value):
    with pytest.raises(InputError, match="num_key_value_heads: must be a positive integer"):
        resolve_model(str(write(tmp_path, {**SMALL, "model_type": "llama", "num_key_value_heads": value})))


def test_a_hugging_face_repo_id_says_where_its_config_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as error:
        resolve_model("meta-llama/Llama-3.1-8B")
    message = str(error.value)
    assert message.startswith("model: ") and "download its config.json and pass the path" in message
    assert "https://huggingface.co/meta-llama/Llama-3.1-8B/resolve/main/config.json" in message
    write(tmp_path, {**SMALL, "model_type": "llama"}, folder="meta-llama/Llama-3.1-8B")
    assert resolve_model("meta-llama/Llama-3.1-8B").num_layers == 2           # an existing folder is a path
    with pytest.raises(InputError, match="file not found"):
        resolve_model("configs/missing.json")                                   # a file name is not a repo id


def test_the_name_comes_from_the_config(tmp_path):
    llama = {**SMALL, "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
             "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256}
    assert resolve_model(str(write(tmp_path, llama))).name == "llama-8b"
    named = resolve_model(str(write(tmp_path, {**llama, "_name_or_path": "meta-llama/Llama-3.1-8B"}, "a")))
    assert (named.name, named.display_name) == ("llama-3.1-8b", "Llama-3.1-8B")
    odd = resolve_model(str(write(tmp_path, {**llama, "_name_or_path": "bad name: <x>"}, "b")))
    assert odd.name == "llama-8b"
    assert resolve_model(str(write(tmp_path, SMALL, name="my-model.json"))).name == "my-model"


@pytest.mark.parametrize("params,label", [(8.03e9, "8b"), (70.55e9, "70b"), (3.82e9, "3.8b"), (671e9, "671b"),
                                          (0.596e9, "596m"), (1.2e6, "1.2m"), (5e3, "5k")])
def test_size_labels_round_down_like_model_names(params, label):
    assert size_label(params) == label
