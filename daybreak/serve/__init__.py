"""The model server: one HTTP server (uvicorn, ASGI) for several registered models, each
running its recommended export with ONNX Runtime.

``create_app`` (in :mod:`daybreak.serve.app`) builds the ASGI app; ``daybreak serve`` runs it.
Requests are decoded (:mod:`.inputs`), queued to a free session (:mod:`.runner`, or batched by
:mod:`.batching`), and answered with what the model's category means (:mod:`.outputs`).
"""
