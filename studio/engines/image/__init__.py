"""Image generation: diffusion pipelines (Stable Diffusion 1.x/2.x, SDXL, SD3,
Flux), GAN generators, and plain upscaling.

Importing this package is cheap: torch and diffusers are imported by the
engine modules only when a job runs. ``requests`` holds the request types the
GUI and the CLI build; ``engine`` runs diffusion jobs, ``gan`` GAN jobs and
``upscale`` upscale jobs."""
