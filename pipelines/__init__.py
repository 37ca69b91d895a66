"""Exports → validate → load → publish: the KetaOps data pipeline."""
