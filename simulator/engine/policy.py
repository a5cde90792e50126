"""Scheduling policy: the decisions an engine's scheduler makes, apart from the mechanism that applies them.

The scheduler (`simulator.engine.scheduler`) runs one step: it offers running requests tokens
under the budget in the order the policy gives, asks the KV-cache manager for blocks, and, when a
request cannot grow, preempts the victim the policy picks; then it admits waiting requests when
the policy allows, and, for a policy that `reserves_lifetime`, only while the blocks every admitted
request may still need fit the pool. Both steppers (step by step, and skip-ahead in
`simulator.engine.fast`) use the same policy object, so an engine's behaviour is one class.

`VllmV1Policy` follows vLLM v1's scheduler (vllm-project/vllm, `vllm/v1/core/sched/scheduler.py`,
v0.8.x, FCFS policy): running requests are scheduled before waiting ones; a request that cannot
get blocks preempts the most recently admitted running request (`self.running.pop()`), which
goes back to the head of the waiting queue (`self.waiting.appendleft(...)`); no waiting request
is admitted in a step that preempted (`if not preempted_reqs:`). Within the running set this
simulator offers tokens to decodes before prefill chunks (FCFS within each), which vLLM's
single pass over `self.running` does only when decodes come first in it.

`TrtllmPolicy` follows TensorRT-LLM's batch manager (NVIDIA/TensorRT-LLM,
`cpp/tensorrt_llm/batch_manager/capacityScheduler.cpp` and `microBatchScheduler.cpp`, main of
2025-2026, the schedulers behind both the C++ runtime and the PyTorch backend's
`tensorrt_llm/_torch/pyexecutor/scheduler.py`):
- GUARANTEED_NO_EVICT (the default `capacity_scheduler_policy`): a request in generation is always
  kept and charged the blocks it still needs to completion (`getRemainingBlocksToCompletion`:
  blocks for prompt + max new tokens, minus those it holds, no credit for prefix hits); waiting
  requests are admitted in order while their whole lifetime's blocks fit what is left, and the
  first that does not fit stops admission. Nothing is ever evicted. Summed over the running set,
  "free minus what the running requests still need" is the pool minus their lifetimes, which is
  how the scheduler keeps it (one counter).
- MAX_UTILIZATION: blocks for the next step only; when a request cannot grow, the last started
  request is paused (its KV freed, recomputed later from its place in arrival order) and the step
  schedules nobody after it: vLLM v1's decisions, in TensorRT-LLM's names.
Generation tokens are counted before context chunks in both (`MicroBatchScheduler`), as here.

`SglangPolicy` follows SGLang's scheduler (sgl-project/sglang v0.5.x, about v0.5.4-v0.5.6:
`python/sglang/srt/managers/scheduler.py` get_new_batch_prefill / update_running_batch,
`managers/schedule_policy.py` PrefillAdder at commit ad0119fd, `managers/schedule_batch.py`
retract_decode at fd3907ee, `srt/environ.py` at 21ff4b08; notes in docs/research/sglang.md):
- prefill first, never mixed (enable_mixed_chunk off): a step is a prefill batch when one can be
  formed (the chunked request continues first, then waiting requests in queue order), else a decode
  batch of every running request;
- admission under a token budget: a request is admitted while its uncached prompt plus
  min(max_new_tokens, 4096) is under the free (and evictable) tokens minus each running request's
  remaining output (clipped at 4096) x `new_token_ratio` and minus what this step already admitted;
  prompt tokens per prefill batch stop at max_prefill_tokens (16384; the first request may pass it);
  a non-final chunk is charged no output;
- `new_token_ratio` starts at 0.7, falls by (0.7 - 0.098) / 600 per decode step without retraction
  down to 0.098, and is reset to 0.7 when the scheduler is idle;
- retraction when a decode step cannot get a token slot for every running request: requests with the
  fewest generated tokens (then the longest prompt) first, until the rest fit; their KV is freed (not
  cached), they go to the tail of the waiting queue, and new_token_ratio becomes (generated tokens of
  the remaining requests + 20 each) / (their max_new_tokens + 1), at most 1.
The radix cache is modelled by the block-level prefix cache shared by every policy.
"""

from __future__ import annotations

from collections import deque

from simulator.engine.request import Request


class FcfsPolicy:
    """Running first (decodes, then prefill chunks), waiting FCFS, the latest admitted preempted first."""

    name = "fcfs"
    admits_after_preemption = False      # a step that preempted admits nobody
    reserves_lifetime = False            # admission charges a request's whole lifetime of blocks
    prefill_first = False                # a step is a prefill batch when one forms, else decodes (unmixed)

    def fresh(self) -> FcfsPolicy:
        """The policy for one more scheduler: stateless policies are shared, stateful ones copied."""
        return self

    @staticmethod
    def running_order(running: list[Request]) -> list[Request]:
        """Who is offered tokens first: decodes (one token behind), then prefill chunks; stable."""
        decodes = [r for r in running if r.num_tokens - r.num_computed_tokens == 1]
        if len(decodes) == len(running):
            return decodes
        return decodes + [r for r in running if r.num_tokens - r.num_computed_tokens != 1]

    @staticmethod
    def pick_victim(running: list[Request]) -> Request:
        """The most recently admitted running request, removed from `running`."""
        return running.pop()

    @staticmethod
    def requeue(waiting: deque[Request], request: Request) -> None:
        """A preempted request waits at the head of the queue (it arrived before everyone waiting)."""
        waiting.appendleft(request)


class VllmV1Policy(FcfsPolicy):
    name = "vllm_v1"


class TrtllmPolicy(FcfsPolicy):
    """TensorRT-LLM's capacity scheduler (see the module docstring)."""

    def __init__(self, capacity_scheduler_policy: str = "GUARANTEED_NO_EVICT") -> None:
        if capacity_scheduler_policy not in ("GUARANTEED_NO_EVICT", "MAX_UTILIZATION"):
            raise ValueError(f"unknown capacity_scheduler_policy {capacity_scheduler_policy!r}")
        self.capacity_scheduler_policy = capacity_scheduler_policy
        self.reserves_lifetime = capacity_scheduler_policy == "GUARANTEED_NO_EVICT"
        self.name = f"trtllm_{capacity_scheduler_policy.lower()}"


class SglangPolicy(FcfsPolicy):
    """SGLang's scheduler (see the module docstring); holds its own new_token_ratio, so one per scheduler."""

    name = "sglang"
    prefill_first = True

    def __init__(self, max_prefill_tokens: int, params: dict) -> None:
        self.max_prefill_tokens = max_prefill_tokens
        self.params = params
        self.clip = int(params["clip_max_new_tokens"])
        self.init_ratio = float(params["init_new_token_ratio"])
        self.min_ratio = self.init_ratio * float(params["min_new_token_ratio_factor"])
        self.decay = (self.init_ratio - self.min_ratio) / int(params["new_token_ratio_decay_steps"])
        self.retract_steps = int(params["retract_decode_steps"])
        self.new_token_ratio = self.init_ratio

    def fresh(self) -> SglangPolicy:
        return SglangPolicy(self.max_prefill_tokens, self.params)

    def idle(self) -> None:
        self.new_token_ratio = self.init_ratio

    def reserved_tokens(self, running: list[Request]) -> float:
        """Tokens the running requests are expected to still write (PrefillAdder's rem_total_token_offset)."""
        clip = self.clip
        return sum(min(r.max_output_tokens - r.num_output_tokens, clip) for r in running) * self.new_token_ratio

    def admission_tokens(self, request: Request, num_new: int, num_uncached: int) -> int:
        """What admitting `num_new` of the request's `num_uncached` prompt tokens charges the budget."""
        return num_new + (min(request.max_output_tokens - request.num_output_tokens, self.clip)
                          if num_new >= num_uncached else 0)

    @staticmethod
    def pick_victim(running: list[Request]) -> Request:
        """Fewest generated tokens first, then the longest prompt (retract_decode's sort), removed from `running`."""
        victim = min(running, key=lambda r: (r.num_output_tokens, -r.num_prompt_tokens))
        running.remove(victim)
        return victim

    @staticmethod
    def requeue(waiting: deque[Request], request: Request) -> None:
        waiting.append(request)                   # the tail of the queue

    def after_decode(self, retracted: bool, running: list[Request]) -> None:
        if not retracted:
            self.new_token_ratio = max(self.new_token_ratio - self.decay, self.min_ratio)
            return
        generated = sum(r.num_output_tokens for r in running)
        budget = sum(r.max_output_tokens for r in running)
        self.new_token_ratio = min(1.0, (generated + self.retract_steps * len(running)) / (budget + 1))


DEFAULT_POLICY = VllmV1Policy()


def policy_for(engine: str, capacity_scheduler_policy: str | None = None, max_prefill_tokens: int | None = None,
               sglang_params: dict | None = None) -> FcfsPolicy:
    """The policy object of an engine name as scenarios spell it (`engine.policy`)."""
    if engine == "vllm":
        return DEFAULT_POLICY
    if engine == "trtllm":
        return TrtllmPolicy(capacity_scheduler_policy or "GUARANTEED_NO_EVICT")
    if engine == "sglang":
        return SglangPolicy(max_prefill_tokens, sglang_params)
    raise ValueError(f"unknown engine policy {engine!r}")
