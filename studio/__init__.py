"""Studio: a native desktop creative studio that generates and edits text,
images, audio and video with local models, offline."""

__version__ = "0.1.0"
