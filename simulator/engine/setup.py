"""What a replica is built from (frozen configs resolved from a scenario), and building one.

`build_scheduler` is the one place that wires a block pool, a host tier, a KV-cache manager, a
scheduling policy and a scheduler together, for decode replicas and prefill pools alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.costs.costmodel import IterationCostParams
from simulator.engine.kv import HostTier, KVCacheManager
from simulator.engine.policy import DEFAULT_POLICY, FcfsPolicy
from simulator.engine.scheduler import Scheduler, SchedulerConfig


@dataclass(frozen=True, slots=True)
class ReplicaSetup:
    """What every replica of a deployment is built from."""
    scheduler: SchedulerConfig
    num_kv_blocks: int
    blocks_for_tokens: Callable[[int], int]
    cost: IterationCostParams
    full_blocks_for_tokens: Callable[[int], int] | None = None
    policy: FcfsPolicy = DEFAULT_POLICY
    request_overhead_s: float = 0.0          # per request outside the engine's steps (server, tokenizer, stream)
    tokenize_s_per_token: float = 0.0        # ... and per prompt token

    def serving_overhead_s(self, request) -> float:
        """Arrival at the server to the scheduler, plus the first chunk's way back (in TTFT and e2e)."""
        return self.request_overhead_s + self.tokenize_s_per_token * request.num_prompt_tokens


@dataclass(frozen=True, slots=True)
class PrefillPool:
    """Disaggregated serving: prompts are prefilled here, their KV sent to the decode replicas."""
    setup: ReplicaSetup
    num_replicas: int
    kv_bytes_per_token: float            # whole sequence, all layers (sent once per request)
    transfer_bytes_per_s: float          # aggregate link between one prefill and one decode replica

    def transfer_s(self, num_tokens: int) -> float:
        return num_tokens * self.kv_bytes_per_token / self.transfer_bytes_per_s


def build_kv_manager(num_blocks: int, config: SchedulerConfig,
                     blocks_for_tokens: Callable[[int], int] | None = None,
                     full_blocks_for_tokens: Callable[[int], int] | None = None) -> KVCacheManager:
    """A KV-cache manager for `config`, with a host tier when it swaps or offloads."""
    tier = HostTier(config.host_kv_blocks, keep_evicted=config.host_offload) \
        if config.swap or config.host_offload else None
    return KVCacheManager(num_blocks, config.block_size, config.enable_prefix_caching, blocks_for_tokens,
                          full_blocks_for_tokens, tier)


def build_scheduler(setup: ReplicaSetup) -> Scheduler:
    kv = build_kv_manager(setup.num_kv_blocks, setup.scheduler, setup.blocks_for_tokens, setup.full_blocks_for_tokens)
    return Scheduler(setup.scheduler, kv, setup.policy.fresh())
