"""The text engine: chat and writing with local causal language models.

Modules, from light to heavy:

- ``requests``: the request dataclasses (no torch), what the CLI and the
  Text workspace build and the library stores as the recipe;
- ``conversation``: the conversation document (turns, per-turn settings and
  statistics), its JSON form, Markdown export;
- ``presets``: task presets (system prompt + sampling defaults), built in
  and user-saved;
- ``streaming``: incremental detokenising, stop strings and timing of the
  streamed answer;
- ``templating``: chat templates and fitting a conversation into the
  model's context;
- ``gguf_cache``: the one-time GGUF to safetensors conversion cache;
- ``loading``: loading a model and tokenizer from a card;
- ``engine``: ``run(request, report, cancel)``.
"""
