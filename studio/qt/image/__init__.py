"""The Image workspace: its form, the canvas with mask painting, the prompt
builder and LoRA picker, and the GAN explorer."""
