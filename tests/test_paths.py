"""The path policy: every path-bearing schema field is marked, the service refuses paths at each of them,
the CLI resolves relative paths against the scenario's folder, and no error quotes a file."""

from __future__ import annotations

import copy
import enum
import json
import re
import typing
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from simulator.catalog import resolve_hardware, resolve_model
from simulator.specs.comparison import ComparisonSpec
from simulator.errors import InputError
from simulator.specs.paths import (PATH_MARKER, PathKind, PathPolicy, check_service_paths, check_service_value,
                             field_kind, path_errors, path_values)
from simulator.specs.scenario import EmpiricalLength, ScenarioSpec, load_scenario
from simulator.specs.files import load_any_scenario
from simulator.workloads.generate import read_trace, sample_lengths

# String fields that never name a file. A new string field must be marked (x-ctxplan-path) or added here.
NON_PATH_STRING_FIELDS = {"name", "description", "id", "column", "version"}   # version: a pattern-checked number


def _models_and_string_fields(root: type[BaseModel]):
    """Every model reachable from `root` and, per model, its fields whose type can hold a plain str."""
    seen: dict[type[BaseModel], list[str]] = {}
    stack = [root]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen[model] = []
        for name, info in model.model_fields.items():
            holds_str = False
            todo = [info.annotation]
            while todo:
                tp = todo.pop()
                origin = typing.get_origin(tp)
                if tp is str:
                    holds_str = True
                elif isinstance(tp, type) and issubclass(tp, BaseModel):
                    stack.append(tp)
                elif isinstance(tp, type) and issubclass(tp, enum.Enum):
                    continue
                elif origin is typing.Literal:
                    continue
                else:
                    todo.extend(typing.get_args(tp))
            if holds_str:
                seen[model].append(name)
    return seen


@pytest.mark.parametrize("root", [ScenarioSpec, ComparisonSpec])
def test_every_string_field_is_marked_or_allowed(root):
    unmarked = []
    for model, names in _models_and_string_fields(root).items():
        for name in names:
            if field_kind(model, name) is None and name not in NON_PATH_STRING_FIELDS:
                unmarked.append(f"{model.__name__}.{name}")
    assert not unmarked, f"string fields neither path-marked nor allow-listed: {unmarked}"
    marked = {(m.__name__, n) for m, names in _models_and_string_fields(root).items() for n in names
              if field_kind(m, n) is not None}
    assert marked, "the schema has path fields; the walk must find them"


def test_the_walk_finds_a_new_unmarked_string_field():
    class Sneaky(BaseModel):
        name: str
        profile_file: str | None = None

    class Root(BaseModel):
        parts: list[Sneaky]

    fields = _models_and_string_fields(Root)
    assert fields[Sneaky] == ["name", "profile_file"]


# ----- specs that use every marked field ----------------------------------------------------

EMPIRICAL = {"dist": "empirical", "path": "lengths.csv", "column": "tokens"}
SERVING = {
    "name": "all-paths",
    "workload": {"arrival": {"process": "trace", "path": "trace.csv"}, "prompt_tokens": EMPIRICAL,
                 "output_tokens": EMPIRICAL},
    "deployments": [{"name": "d", "model": "llama-3.1-8b", "hardware": "h100-sxm",
                     "prefill_pool": {"hardware": "a100-80gb"}}],
}
QUERIES = {
    "name": "all-paths-rag",
    "corpus": {"num_documents": 3, "document_tokens": EMPIRICAL},
    "queries": {"num_requests": 5, "arrival": {"process": "trace", "path": "trace.csv"},
                "question_tokens": EMPIRICAL, "output_tokens": EMPIRICAL},
    "deployments": [{"name": "r", "kind": "rag", "llm": {"model": "llama-3.1-8b", "hardware": "h100-sxm",
                                                        "prefill_pool": {"hardware": "h100-sxm"}},
                     "retrieval": {"embedding": {"hardware": "l4"}, "rerank": {"hardware": "l4"}}}],
}
CONVERSATIONS = {
    "name": "all-paths-chat",
    "conversations": {"num_sessions": 2, "arrival": {"process": "trace", "path": "trace.csv"}, "turns": EMPIRICAL,
                      "user_tokens": EMPIRICAL, "output_tokens": EMPIRICAL},
    "deployments": [{"name": "c", "kind": "llm", "llm": {"model": "llama-3.1-8b", "hardware": "h100-sxm"}}],
}
DOCS = [(ScenarioSpec, SERVING), (ComparisonSpec, QUERIES), (ComparisonSpec, CONVERSATIONS)]


def _marked_sites(node, found: set) -> None:
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            if field_kind(type(node), name) is not None:
                found.add((type(node).__name__, name))
            _marked_sites(getattr(node, name), found)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _marked_sites(item, found)


def test_the_fixture_specs_cover_every_marked_field():
    covered: set = set()
    for model, doc in DOCS:
        _marked_sites(model.model_validate(doc), covered)
    every = {(m.__name__, n) for root in (ScenarioSpec, ComparisonSpec)
             for m, names in _models_and_string_fields(root).items() for n in names if field_kind(m, n)}
    assert every <= covered


def _set_dotted(doc: dict, dotted: str, value) -> None:
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", dotted)]
    node = doc
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def _cases():
    for model, doc in DOCS:
        for field, kind, _ in path_values(model.model_validate(doc)):
            for hostile in ("/etc/passwd", "x.yaml", "../a", "~/.ssh/id_rsa", "C:\\x.yaml", "./h100-sxm"):
                yield pytest.param(model, doc, field, kind, hostile, id=f"{doc['name']}:{field}:{hostile}")


@pytest.mark.parametrize("model,doc,field,kind,hostile", list(_cases()))
def test_service_refuses_paths_at_every_marked_field(model, doc, field, kind, hostile):
    doc = copy.deepcopy(doc)
    _set_dotted(doc, field, hostile)
    spec = model.model_validate(doc)
    assert dict((f, v) for f, _, v in path_values(spec))[field] == hostile
    errors = {e.field: str(e) for e in path_errors(spec, PathPolicy.service())}
    assert field in errors
    assert errors[field].startswith(f"{field}: server-side file paths are not accepted (got {hostile!r})")
    with pytest.raises(InputError):
        check_service_paths(spec)
    with pytest.raises(InputError, match="server-side file paths"):
        check_service_value(hostile, field, kind)


def test_service_accepts_catalog_names_and_uploaded_profiles():
    spec = ScenarioSpec.model_validate({**SERVING, "workload": {"num_requests": 3, "arrival": {
        "process": "poisson", "rate_per_s": 1}, "prompt_tokens": {"dist": "constant", "value": 10},
        "output_tokens": {"dist": "constant", "value": 10}}, "deployments": [
        {"name": "d", "model": "Llama-3.1-8B", "hardware": "my-gpu", "prefill_pool": {"hardware": "h100-sxm"}}]})
    check_service_paths(spec, {"my-gpu"})
    with pytest.raises(InputError) as info:
        check_service_paths(spec)
    assert str(info.value).startswith("deployments[0].hardware: unknown hardware")
    assert "allowed: a catalog name or an uploaded profile" in str(info.value)


def test_service_message_names_the_field_and_the_value():
    doc = copy.deepcopy(SERVING)
    doc["workload"] = {"num_requests": 3, "arrival": {"process": "poisson", "rate_per_s": 1},
                       "prompt_tokens": {"dist": "constant", "value": 10},
                       "output_tokens": {"dist": "constant", "value": 10}}
    doc["deployments"][0]["prefill_pool"]["hardware"] = "/etc/passwd"
    with pytest.raises(InputError) as info:
        check_service_paths(ScenarioSpec.model_validate(doc))
    assert str(info.value) == ("deployments[0].prefill_pool.hardware: server-side file paths are not accepted "
                               "(got '/etc/passwd'); allowed: a catalog name or an uploaded profile")


def test_path_values_lists_dotted_fields():
    values = path_values(ComparisonSpec.model_validate(QUERIES))
    fields = [f for f, _, _ in values]
    assert "deployments[0].llm.hardware" in fields
    assert "deployments[0].retrieval.rerank.hardware" in fields
    assert "corpus.document_tokens.path" in fields
    assert ("deployments[0].llm.model", "model", "llama-3.1-8b") in values


def test_service_policy_opens_nothing(tmp_path):
    (tmp_path / "gpu.yaml").write_text("base: h100-sxm\n")
    policy = PathPolicy.service()
    with pytest.raises(InputError, match="server-side file paths are not accepted"):
        resolve_hardware(str(tmp_path / "gpu.yaml"), base_dir=policy)
    with pytest.raises(InputError, match="server-side file paths are not accepted"):
        policy.locate(str(tmp_path / "gpu.yaml"), "x", PathKind.HARDWARE)
    assert resolve_hardware("h100-sxm", base_dir=policy).name


def test_markers_are_in_the_json_schema():
    schema = json.dumps(ScenarioSpec.model_json_schema())
    assert schema.count(PATH_MARKER) >= 5


# ----- CLI mode -----------------------------------------------------------------------------

def test_cli_resolves_relative_paths_against_the_scenario_folder_first(tmp_path, monkeypatch):
    folder, elsewhere = tmp_path / "scn", tmp_path / "cwd"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "gpu.yaml").write_text("base: h100-sxm\nmemory_gb: 40\n")
    (elsewhere / "gpu.yaml").write_text("base: h100-sxm\nmemory_gb: 20\n")
    (elsewhere / "only-here.yaml").write_text("base: h100-sxm\nmemory_gb: 10\n")
    monkeypatch.chdir(elsewhere)
    assert resolve_hardware("gpu.yaml", base_dir=folder).memory_bytes == 40e9
    assert resolve_hardware("gpu.yaml").memory_bytes == 20e9
    assert resolve_hardware("only-here.yaml", base_dir=folder).memory_bytes == 10e9    # then the current folder
    assert resolve_hardware(str(folder / "gpu.yaml"), base_dir=elsewhere).memory_bytes == 40e9   # absolute
    (folder / "t.csv").write_text("tokens\n7\n7\n")
    dist = EmpiricalLength(dist="empirical", path="t.csv", column="tokens")
    assert sample_lengths(dist, np.random.default_rng(0), 3, folder).tolist() == [7, 7, 7]


def test_a_model_folder_with_config_json_is_a_model(tmp_path):
    hf = {"hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
          "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072}
    (tmp_path / "my-llama").mkdir()
    (tmp_path / "my-llama" / "config.json").write_text(json.dumps(hf))
    assert resolve_model(str(tmp_path / "my-llama")).num_layers == 32
    assert resolve_model("my-llama/", base_dir=tmp_path).name == "my-llama"


@pytest.mark.parametrize("call", [
    lambda p: resolve_model(str(p) + "/"),
    lambda p: resolve_hardware(str(p) + "/"),
    lambda p: read_trace(p),
    lambda p: sample_lengths(EmpiricalLength(dist="empirical", path=str(p), column="x"),
                             np.random.default_rng(0), 2, None),
    lambda p: load_scenario(p),
])
def test_a_directory_is_a_one_line_error(tmp_path, call):
    with pytest.raises(InputError) as info:
        call(tmp_path)
    assert "is a directory" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("suffix,call", [
    (".yaml", lambda p: load_scenario(p)),
    (".yaml", lambda p: load_any_scenario(p)),
    (".yaml", lambda p: resolve_hardware(str(p))),
    (".yaml", lambda p: resolve_model(str(p))),
    (".json", lambda p: resolve_model(str(p))),
    (".csv", lambda p: read_trace(p)),
])
def test_a_file_that_is_not_utf8_is_a_one_line_error(tmp_path, suffix, call):
    path = tmp_path / f"bin{suffix}"
    path.write_bytes(b"name: \xff\xfe\x00bad\n")
    with pytest.raises(InputError) as info:
        call(path)
    assert "not UTF-8 text" in str(info.value) and path.name in str(info.value)


# ----- no file contents in errors -----------------------------------------------------------

PASSWD = ("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
          "secret_user:x:1000:1000:Secret Person,,,:/home/secret:/bin/bash\n")
SECRETS = ("root:x:0:0", "/root", "/bin/bash", "Secret Person", "/home/secret", "sk-live-0123456789abcdef0123",
           "daemon:x")
HOSTILE_FILES = [
    PASSWD,
    "token: 'sk-live-0123456789abcdef0123'\n  broken: [\n",
    "root:x:0:0: {\n",
    "'root:x:0:0:root:/root:/bin/bash': 1\n",
    "name: 'root:x:0:0:root:/root:/bin/bash'\n",
    "base: 'root:x:0:0:root:/root:/bin/bash'\n",
    "hardware: {name: 'root:x:0:0:root:/root:/bin/bash', memory_gb: 'root:x:0:0:root'}\n",
    "a,b\n1,2,3,4\n'root:x:0:0:root:/root:/bin/bash',2\n",
    "arrival_time_s,prompt_tokens,output_tokens\n0,root:x:0:0:root:/root:/bin/bash,2\n",
    "root:x:0:0:root:/root:/bin/bash,daemon:x:1:1\n1,2\n",
]


@pytest.mark.parametrize("content", HOSTILE_FILES)
@pytest.mark.parametrize("suffix,call", [
    (".yaml", lambda p: resolve_model(str(p))),
    (".json", lambda p: resolve_model(str(p))),
    (".yaml", lambda p: resolve_hardware(str(p))),
    ("", lambda p: resolve_hardware(str(p))),
    (".csv", lambda p: read_trace(p)),
    (".csv", lambda p: sample_lengths(EmpiricalLength(dist="empirical", path=str(p), column="tokens"),
                                      np.random.default_rng(0), 2, None)),
])
def test_no_error_quotes_a_line_of_the_file(tmp_path, content, suffix, call):
    path = tmp_path / f"hostile{suffix}"
    path.write_text(content)
    try:
        call(path)
    except InputError as exc:
        message = str(exc)
    else:
        return
    assert "\n" not in message
    for line in content.splitlines():
        assert line.strip() not in message, (line, message)
    for secret in SECRETS:
        assert secret not in message, (secret, message)


def test_a_name_too_long_for_the_file_system_is_a_one_line_error():
    with pytest.raises(InputError) as info:
        load_scenario(Path("x" * 5000 + ".yaml"))
    assert str(info.value).endswith("File name too long") or "cannot" in str(info.value)
    assert len(str(info.value)) < 400
    with pytest.raises(InputError, match="cannot"):
        resolve_hardware("/" + "y" * 5000 + ".yaml")
