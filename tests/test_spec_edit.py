"""The one scenario editor: specs and documents, list items by index or name, inputs never changed."""

import pytest

from simulator.errors import InputError
from simulator.specs.edit import edit, edit_many
from simulator.specs.scenario import ScenarioSpec

DOC = {"name": "t", "seed": 1,
       "workload": {"num_requests": 10, "arrival": {"process": "poisson", "rate_per_s": 1.0},
                    "prompt_tokens": {"dist": "constant", "value": 100},
                    "output_tokens": {"dist": "constant", "value": 10}},
       "deployments": [{"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm", "replicas": 1},
                       {"name": "b", "model": "llama-3.1-8b", "hardware": "h100-sxm", "replicas": 1}]}


def test_document_edit_copies_the_path_and_leaves_the_input_alone():
    out = edit(DOC, "workload.arrival.rate_per_s", 3.5)
    assert out["workload"]["arrival"]["rate_per_s"] == 3.5 and DOC["workload"]["arrival"]["rate_per_s"] == 1.0
    assert out["deployments"] is DOC["deployments"]            # untouched branches are shared, not copied
    out = edit_many(DOC, {"deployments.b.replicas": 4, "deployments.0.engine.max_num_seqs": 8})
    assert [d["replicas"] for d in out["deployments"]] == [1, 4]
    assert out["deployments"][0]["engine"] == {"max_num_seqs": 8}           # a block the file left out
    assert "engine" not in DOC["deployments"][0]


def test_spec_edit_copies_models_without_touching_the_original():
    spec = ScenarioSpec.model_validate(DOC)
    out = edit(spec, "workload.arrival.rate_per_s", 2.0)
    assert out.workload.arrival.rate_per_s == 2.0 and spec.workload.arrival.rate_per_s == 1.0
    assert edit(spec, "deployments.b.replicas", 3).deployments[1].replicas == 3
    assert spec.deployments[1].replicas == 1


@pytest.mark.parametrize("path, field", [("workload.nope", "workload.nope"), ("deployments.c.replicas", "deployments.c"),
                                         ("seed.x", "seed"), ("workload..rate", "path")])
def test_bad_paths_name_the_field(path, field):
    spec = ScenarioSpec.model_validate(DOC)
    with pytest.raises(InputError) as error:
        edit(spec, path, 1)
    assert error.value.field == field
