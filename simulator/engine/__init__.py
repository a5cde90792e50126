"""The serving engine: requests, the paged KV cache, schedulers, the replica loop, cluster and router."""
