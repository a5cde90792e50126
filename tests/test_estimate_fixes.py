"""Issue 14 on `ctxplan estimate`: the context in `fits`, one scope per memory field, the limit a reason
names, `tp` and `tensor_parallel` over HTTP, and a table in human units."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

import simulator.results.estimate
from api.render_estimate import estimate_table
from api.response_models import EstimateResponse
from simulator.catalog import resolve_hardware, resolve_model
from simulator.results.estimate import estimate
from simulator.specs.engine_spec import EngineSpec

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")
GIB = 2 ** 30
PROMPT_KV_70B = 40 * GIB          # 131,072 tokens x 80 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes


@pytest.fixture(scope="module")
def llama70():
    return resolve_model("llama-3.1-70b")


@pytest.fixture(scope="module")
def h100():
    return resolve_hardware("h100-sxm")


def test_past_the_context_does_not_fit_though_memory_holds_it(llama70, h100):
    result = estimate(llama70, h100, 131072, 1, tp=4)
    assert result.exceeds_context is True and result.fits_in_memory is True
    assert result.fits is False and result.limited_by == "context"
    assert result.fit_reason == "prompt + output = 131,073 tokens exceed llama-3.1-70b's context of 131,072 tokens"
    assert result.min_num_gpus == 4 and result.needs is None          # memory alone: this layout holds it
    assert result.max_context_tokens == 131072
    inside = estimate(llama70, h100, 131071, 1, tp=4)
    assert inside.fits is True and inside.limited_by is None and inside.fit_reason == "fits"


def test_past_the_context_and_out_of_memory_names_both_and_the_memory_layout(llama70, h100):
    result = estimate(llama70, h100, 131072, 1, tp=1)
    assert result.fits is False and result.fits_in_memory is False and result.limited_by == "context"
    context, memory = result.fit_reason.split("; ", 1)
    assert "context of 131,072 tokens" in context and memory.startswith("weights need 141.1 GB per GPU")
    assert result.min_num_gpus == 4 and result.needs.num_gpus == 4


def test_every_kv_field_has_one_scope(llama70, h100):
    one = estimate(llama70, h100, 131072, 1)
    assert one.kv_cache_bytes == PROMPT_KV_70B == one.kv_cache_bytes_per_gpu     # prompt, one GPU = all
    assert one.sequence_kv_cache_bytes == one.sequence_kv_cache_bytes_per_gpu == PROMPT_KV_70B + 327680
    four = estimate(llama70, h100, 131072, 1, tp=4)
    assert four.kv_cache_bytes == PROMPT_KV_70B and four.kv_cache_bytes_per_gpu == PROMPT_KV_70B // 4
    assert four.sequence_kv_cache_bytes_per_gpu == (PROMPT_KV_70B + 327680) // 4
    split = estimate(resolve_model("llama-3.1-8b"), h100, 100_000, 5000, tp=2, context_parallel=2,
                     pipeline_parallel=2)
    assert split.kv_cache_bytes_per_gpu * split.num_gpus == pytest.approx(split.kv_cache_bytes, abs=8)
    assert split.sequence_kv_cache_bytes_per_gpu * 8 == pytest.approx(split.sequence_kv_cache_bytes, abs=8)
    assert split.kv_cache_bytes < split.sequence_kv_cache_bytes <= split.kv_cache_bytes_peak


def test_each_memory_field_states_its_scope(llama70, h100):
    result = estimate(llama70, h100, 131072, 1, tp=4)
    memory_keys = [key for key in type(result).model_fields if "bytes" in key]
    assert {"kv_cache_bytes", "sequence_kv_cache_bytes", "sequence_kv_cache_bytes_per_gpu"} <= set(memory_keys)
    for key in memory_keys:
        assert key in simulator.results.estimate.__doc__, key
        assert EstimateResponse.model_fields[key].description, key
    describe = {key: EstimateResponse.model_fields[key].description for key in memory_keys}
    assert "prompt" in describe["kv_cache_bytes"] and "output" not in describe["kv_cache_bytes"]
    assert "prompt + output" in describe["sequence_kv_cache_bytes_per_gpu"]


def test_the_reason_names_the_limit_that_binds(llama70, h100):
    weights = estimate(llama70, h100, 8000, 100)
    for impl in ("flash", "naive"):
        entry = getattr(weights.attention, impl)
        assert entry.fits is False and entry.limited_by == "weights", impl
        assert entry.reason.startswith("weights need 141.1 GB per GPU"), impl
    assert weights.limited_by == "weights" and "score matrix" not in weights.fit_reason

    kv = estimate(resolve_model("llama-3.1-8b"), resolve_hardware("l4"), 100_000, 10)
    assert kv.limited_by == "kv_cache" and kv.fit_reason.startswith("KV cache holds")
    assert kv.attention.flash.limited_by == "kv_cache"


def test_a_score_matrix_limit_counts_in_the_gpus_it_needs(h100):
    unchunked = EngineSpec(enable_chunked_prefill=False, max_num_batched_tokens=32768)
    result = estimate(resolve_model("llama-3.1-8b"), h100, 32768, 16, attention_impl="naive", engine=unchunked)
    assert result.fits is False and result.limited_by == "score_matrix"
    assert result.fit_reason.startswith("naive attention: score matrix needs 64.0 GiB per GPU")
    assert result.attention.flash.fits is True
    assert result.needs is not None and result.min_num_gpus == result.needs.num_gpus > 1


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from api.main import create_app
    from api.settings import Settings
    database = tmp_path_factory.mktemp("estimate-fixes") / "api.db"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{database}", log_level="WARNING"))) as c:
        yield c


BODY = {"model": "llama-3.1-70b", "hardware": "h100-sxm", "prompt_tokens": 131072, "output_tokens": 1}


def test_http_takes_tp_and_tensor_parallel(client):
    by_tp = client.post("/v1/estimate", json={**BODY, "tp": 4})
    by_name = client.post("/v1/estimate", json={**BODY, "tensor_parallel": 4})
    both = client.post("/v1/estimate", json={**BODY, "tp": 4, "tensor_parallel": 4})
    assert by_tp.status_code == by_name.status_code == both.status_code == 200, by_name.text
    assert by_tp.json() == by_name.json() == both.json()
    data = by_name.json()
    assert data["tensor_parallel"] == 4 and data["num_gpus"] == 4
    for key in ("kv_cache_bytes", "fits", "min_num_gpus", "prefill_time_s", "decode_time_per_token_s",
                "max_concurrent_sequences", "kv_cache_bytes_per_gpu", "needs", "fit_reason"):
        assert key in data
    assert data["fits"] is False and data["fits_in_memory"] is True and data["min_num_gpus"] == 4


def test_http_refuses_tp_and_tensor_parallel_that_differ(client):
    response = client.post("/v1/estimate", json={**BODY, "tp": 2, "tensor_parallel": 4})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "tensor_parallel"]
    assert "tp and tensor_parallel" in error["msg"] and "tp 2 and tensor_parallel 4" in error["msg"]


def _text(table) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(table)
    return console.file.getvalue()


def test_the_table_shows_human_units(llama70, h100):
    result = estimate(llama70, h100, 131072, 1, tp=1)
    text = _text(estimate_table(result))
    cells = [line.split("│")[1:3] for line in text.splitlines() if line.count("│") == 3]
    rows = {key.strip(): value.strip() for key, value in cells}
    assert rows["kv_cache_bytes"] == "40.0 GiB" and rows["kv_cache_bytes_per_token"] == "320 KiB"
    assert rows["exceeds_context"] == "yes" and rows["fits"] == "no" and rows["limited_by"] == "context"
    assert rows["needs"] == "tp 4 x cp 1 x pp 1 = 4 GPUs" and rows["attention.flash.limited_by"] == "weights"
    assert rows["prefill_time_s"] == "1.18 min" and rows["decode_time_per_token_s"].endswith(" ms")
    assert rows["cost_per_query_usd"].startswith("$") and rows["prompt_tokens"] == "131,072"
    assert rows["throughput_output_tokens_per_s"].endswith("/s")
    assert not any(word in text for word in ("None", "True", "False", "42949672960", "42,949,672,960"))


def test_the_cli_prints_the_table_and_keeps_raw_json(tmp_path):
    args = [CTXPLAN, "estimate", "--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--prompt-tokens", "131072",
            "--output-tokens", "1", "--tensor-parallel", "4"]
    table = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert table.returncode == 0, table.stderr
    assert "40.0 GiB" in table.stdout and "10.0 GiB" in table.stdout and "True" not in table.stdout
    raw = subprocess.run(args + ["--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    data = json.loads(raw.stdout)
    assert data["kv_cache_bytes"] == PROMPT_KV_70B and data["tensor_parallel"] == 4 and data["fits"] is False
