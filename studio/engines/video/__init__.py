"""Video: clip generation, frame-consistency editing, the timeline model and
export.

Importing this package is cheap; torch, diffusers, OpenCV and PyAV are
imported inside the functions that need them.

- ``requests``: the request types (``video``, ``video-edit``, ``video-export``)
- ``generate``: the ``video`` engine (GAN latent walk; dispatch to
  ``keyframes`` for image diffusion models and ``pipelines`` for video models)
- ``flow``: optical flow, warping, occlusion, the consistency graph
- ``deflicker``, ``interpolate``, ``propagate``: the consistency operations
- ``media``: probing and decoding video, images and audio; proxies
- ``timeline``: the Qt-free timeline model with undo/redo and project files
- ``compose``: rendering a timeline frame and mixing its audio
- ``export``, ``render``, ``otio``: writing MP4/PNG/WebP/GIF and OpenTimelineIO
- ``engine``: the ``video-edit`` and ``video-export`` jobs
"""
