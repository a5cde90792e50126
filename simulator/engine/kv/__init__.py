"""The paged KV cache: block pool, KV-cache manager, host tier. The only writer of KV state."""
