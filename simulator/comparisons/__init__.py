"""RAG versus long context: query workloads, the quality prior, compare and crossover."""
