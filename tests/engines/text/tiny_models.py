"""Tiny language models built in code for the text engine's tests.

A real byte-level BPE tokenizer is trained on a paragraph of text (a few
milliseconds) with ChatML special tokens and a chat template; random GPT-2
and Llama networks are saved beside it as transformers folders, and the
Llama one is also written as a GGUF file with the ``gguf`` package, the way
llama.cpp's converter lays it out (Q/K rows permuted, one tensor Q8_0), so
every format the engine loads goes through its real loading code."""

from __future__ import annotations

import json
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>'"
    " + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = """\
The harbour was quiet at dawn. Fishing boats rocked against the pier while gulls
circled over the nets. A writer sat on the sea wall with a notebook, drafting an
email to her editor about the story she had promised: a lighthouse keeper, a storm,
a letter that arrived thirty years late. Summaries are short; stories are long.
Translate "bonjour" into English: hello. Code: def add(a, b): return a + b
Café, naïve, über, 東京, 🙂 — text in many scripts should survive every round trip.
"""


def build_tokenizer(folder: Path, chat_template: str | None = CHATML_TEMPLATE):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(CORPUS.splitlines() * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        unk_token="<|endoftext|>", pad_token="<|im_end|>")
    if chat_template:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_gpt2(folder: Path, chat_template: str | None = None, n_positions: int = 128) -> Path:
    """A random GPT-2 (a base model: no chat template unless given one)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tokenizer(folder, chat_template)
    torch.manual_seed(1)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=1, eos_token_id=2, pad_token_id=2)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def build_llama(folder: Path, max_positions: int = 256) -> Path:
    """A random Llama chat model (ChatML template)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(folder)
    torch.manual_seed(2)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def _permute(weights, heads: int):
    """llama.cpp's row order for Q and K (transformers undoes it on load)."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def write_gguf(llama_folder: Path, path: Path) -> Path:
    """The Llama folder as a GGUF file with its tokenizer and chat template."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((llama_folder / "config.json").read_text())
    spec = json.loads((llama_folder / "tokenizer.json").read_text())
    template = (llama_folder / "chat_template.jinja").read_text()
    vocab = spec["model"]["vocab"]
    tokens = [""] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    merges = [" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]]
    specials = {entry["id"] for entry in spec["added_tokens"]}
    weights = load_file(str(llama_folder / "model.safetensors"))

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(config["hidden_size"] // config["num_attention_heads"])
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if i in specials else 1 for i in range(len(tokens))])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", weights["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", weights["model.norm.weight"])
    writer.add_tensor("output.weight", weights["lm_head.weight"])
    for layer in range(config["num_hidden_layers"]):
        prefix, block = f"model.layers.{layer}.", f"blk.{layer}."
        query = _permute(weights[prefix + "self_attn.q_proj.weight"], config["num_attention_heads"])
        writer.add_tensor(block + "attn_q.weight", gguf.quants.quantize(query, gguf.GGMLQuantizationType.Q8_0),
                          raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor(block + "attn_k.weight",
                          _permute(weights[prefix + "self_attn.k_proj.weight"], config["num_key_value_heads"]))
        for gguf_name, hf_name in (("attn_v", "self_attn.v_proj"), ("attn_output", "self_attn.o_proj"),
                                   ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"),
                                   ("ffn_down", "mlp.down_proj"), ("attn_norm", "input_layernorm"),
                                   ("ffn_norm", "post_attention_layernorm")):
            writer.add_tensor(f"{block}{gguf_name}.weight", weights[f"{prefix}{hf_name}.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
