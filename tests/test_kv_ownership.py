"""The KV-cache manager alone touches KV state: no module outside `simulator.engine.kv` reads or writes
the block pool, its free list, a block table or the host tier's entries (static check over every
module of simulator/, api/ and kernels/), and the check is shown to catch an offender."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KV_PACKAGE = ROOT / "simulator" / "engine" / "kv"
# attributes that are KV state (the manager's tables, the pool and its queue, the host tier's entries)
KV_STATE = {"pool", "free_queue", "req_to_blocks", "req_to_anonymous", "num_cached_blocks", "capacity_tokens",
            "preloaded_tokens", "host_tier", "_cached", "_swapped", "_reserved_blocks", "ref_cnt", "block_hash",
            "append_anonymous", "release_anonymous", "on_evict"}


def offenders(paths) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and node.attr in KV_STATE:
                found.append(f"{path}:{node.lineno} .{node.attr}")
    return sorted(found)


def outside_kv() -> list[Path]:
    paths = [p for d in ("simulator", "api", "kernels") for p in (ROOT / d).rglob("*.py")]
    return [p for p in paths if KV_PACKAGE not in p.parents]


def test_no_module_outside_the_kv_package_touches_kv_state():
    paths = outside_kv()
    assert len(paths) > 60 and any(p.name == "clock.py" for p in paths)      # the schedulers are scanned
    assert offenders(paths) == []


def test_the_ownership_check_catches_a_scheduler_reaching_into_the_pool(tmp_path):
    leaky = tmp_path / "a" / "b" / "leaky.py"
    leaky.parent.mkdir(parents=True)
    leaky.write_text("def step(kv):\n    kv.pool.take(3)\n    return kv.req_to_blocks[1]\n")
    assert [f.split()[-1] for f in offenders([leaky])] == [".pool", ".req_to_blocks"]     # lines 2 and 3
