"""Corpus input and output: streaming readers with quarantine, atomic Parquet writers."""
