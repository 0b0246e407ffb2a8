"""The semhm Gradio web demo (``semhm demo`` or ``python -m semhm_models.demo``)."""
