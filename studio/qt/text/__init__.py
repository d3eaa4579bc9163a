"""The Text workspace: streaming chat view, composer and task presets."""
