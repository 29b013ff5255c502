"""A transformers-style model folder built locally: tiny Llama with random weights, a trained BPE tokenizer
with a real-looking chat template, pinned requirements."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{%- set ns = namespace(has_system=false) -%}{{ bos_token }}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.has_system = true -%}{%- endif -%}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] | trim }}<|im_end|>\n"
    "{%- endfor -%}{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)


def build_llama_repo(root: Path, layers: int = 4) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=96,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    LlamaForCausalLM(config).save_pretrained(root)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=96, special_tokens=["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    )
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 20, trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(root)
    (root / "requirements.txt").write_text("# pinned\ntorch==2.3.1\ntransformers==4.44.0  # tested with\n")
    (root / "README.md").write_text("# tiny llama\n")
    return root
