"""Training of the bundled starter image model: its data, tokenizer, training
loop, evaluation and helpers for using it. Never imports Qt."""
