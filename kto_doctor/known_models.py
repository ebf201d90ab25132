"""Vocabulary sizes of common model families, for runs whose folder has no model config.json.

LLaMA-Factory does not copy the model's config.json into the output folder until it saves, and the
summed KTO logits metric can only be read as a mean logit with the vocabulary size. Matching is on the
model name (`model_name_or_path`, a hub id or a local path), most specific pattern first. Sizes are the
`vocab_size` of each family's published config.json.
"""
from __future__ import annotations

import re

# (pattern on the lower-cased name, vocab_size, family label)
_FAMILIES = [
    (r"qwen2(\.5)?[-_]?(0\.5|1\.5|3)b", 151936, "Qwen2/2.5 (0.5B-3B)"),
    (r"qwen2(\.5)?[-_]?(7|14|32|72)b", 152064, "Qwen2/2.5 (7B+)"),
    (r"qwen2(\.5)?-?vl", 151936, "Qwen2-VL"),
    (r"qwen3", 151936, "Qwen3"),
    (r"qwen1\.5|qwen-?1\.5", 151936, "Qwen1.5"),
    (r"llama-?3|llama3|meta-llama-3", 128256, "Llama 3"),
    (r"llama-?2|llama2", 32000, "Llama 2"),
    (r"mistral-?7b-v0\.[12]|mistral-7b-instruct-v0\.[12]", 32000, "Mistral 7B v0.1/0.2"),
    (r"mistral-?7b-v0\.3|mistral-7b-instruct-v0\.3|mistral-nemo", 32768, "Mistral v0.3"),
    (r"gemma-?3", 262144, "Gemma 3"),
    (r"gemma-?2|gemma-2b|gemma-7b|gemma", 256000, "Gemma/Gemma 2"),
    (r"phi-?3", 32064, "Phi-3"),
    (r"tinyllama", 32000, "TinyLlama"),
    (r"glm-?4", 151552, "GLM-4"),
    (r"deepseek-?r1-distill-qwen", 152064, "DeepSeek-R1-Distill-Qwen"),
]


def vocab_size_for(model_name: str | None) -> tuple[int, str] | None:
    """(vocab_size, family) for a model name or path, or None when the family is not known."""
    if not model_name or not isinstance(model_name, str):
        return None
    name = model_name.lower()
    for pattern, size, family in _FAMILIES:
        if re.search(pattern, name):
            return size, family
    return None
