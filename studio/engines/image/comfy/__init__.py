"""Image jobs on a remote ComfyUI server: graphs built from image requests
(``graph``), the HTTP/websocket client (``client``) and the engine and model
cards (``engine``)."""
