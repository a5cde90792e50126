"""Arrivals, lengths, traces and RAG pipeline stages."""
