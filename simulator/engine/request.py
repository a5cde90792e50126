"""The request entity of the hot path: token counters, not per-token events.

Each request has `num_computed_tokens` catching up with `num_tokens` (prompt plus tokens generated
so far). When the two meet, the iteration emits one token. Preemption by recompute resets
`num_computed_tokens` to 0; generated tokens are kept and re-prefilled with the prompt.

Feature bookkeeping lives with the feature, not here: swapped and preloaded KV in the KV-cache
manager, the decode clock's bases in the clock, a disaggregated request's real output length in
the cluster, which calls wait for which in a `CallGraph` (simulator/engine/dependencies.py).

    prompt (prefix | unique)            generated
    [#### shared ####|.... unique ....][o o o]
    ^ num_computed_tokens moves right in chunks, then one token per iteration
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Status(IntEnum):
    WAITING = 0
    RUNNING = 1
    FINISHED = 2
    REJECTED = 3


@dataclass(slots=True, eq=False)
class Request:
    """One LLM call: its sizes, its progress (token counters, status) and its timestamps."""

    request_id: int
    arrival_time_s: float
    num_prompt_tokens: int
    max_output_tokens: int
    prefix_id: int = -1          # shared-prefix id, -1 when none
    prefix_tokens: int = 0       # leading prompt tokens shared with other requests
    num_output_tokens: int = 0
    num_computed_tokens: int = 0
    status: Status = Status.WAITING
    replica: int = -1
    first_scheduled_s: float = -1.0
    first_token_s: float = -1.0
    last_token_s: float = -1.0
    finish_s: float = -1.0
    itl_sum_s: float = 0.0
    itl_max_s: float = 0.0
    num_preemptions: int = 0
    num_cached_tokens: int = -1  # prefix-cache hit at first admission; -1 until admitted
    reject_reason: str = ""
    query_id: int = -1           # the user query this LLM call serves (-1: the request is the query)
    ready_time_s: float = -1.0   # when it reached the router (after retrieval stages or parent calls)
    is_answer: bool = True                      # False for map calls and a hybrid's declined RAG attempt

    @property
    def num_tokens(self) -> int:
        return self.num_prompt_tokens + self.num_output_tokens

    @property
    def total_tokens(self) -> int:
        """Tokens the request will hold when it finishes (prompt plus every output token)."""
        return self.num_prompt_tokens + self.max_output_tokens

    def block_hash(self, block_index: int, num_shared_blocks: int) -> tuple[int, int]:
        """Content identity of a full block: the first `num_shared_blocks` hash by prefix id, the rest by request."""
        if self.prefix_id >= 0 and block_index < num_shared_blocks:
            return (self.prefix_id, block_index)
        return (-1 - self.request_id, block_index)
