"""Measured latency lookup tables (filled by the latency_tables issue)."""
