"""Personalisation: small LoRA adapters trained on a person's own pictures or writing.

`dataset` reads and checks a picture set with captions, `image` trains an
image LoRA on a Stable Diffusion 1.x/2.x model, `kohya` writes it in the
layout A1111 and ComfyUI load, `text` trains a text LoRA on a causal
language model. Nothing here imports Qt or the engines."""
