"""Quality classifier training, evaluation and model files (see the quality-filtering issue)."""
