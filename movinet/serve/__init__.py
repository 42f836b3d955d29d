"""`movinet serve`: live recognition in the browser and over HTTP, many streams on one model.

    from movinet.serve import ServedModel, ServeSettings, ServerThread, create_app
    model = ServedModel.load("export/movinet_a0_stream.onnx")
    with ServerThread(create_app(model, ServeSettings(max_batch=16))) as server:
        print(server.url)

Layout: `model` (the one module that touches predictors), `frames` (frame decoding and limits),
`batching` (the batch scheduler), `connection` (one WebSocket stream), `app` (the Starlette app),
`server` (uvicorn, `movinet serve`), `client` (a Python client), `static/` (the page).
"""

from movinet.serve.app import ServeSettings, create_app
from movinet.serve.connection import StreamLimits
from movinet.serve.frames import FrameLimits
from movinet.serve.model import ServedModel
from movinet.serve.server import ServerThread, serve

__all__ = ["FrameLimits", "ServeSettings", "ServedModel", "ServerThread", "StreamLimits", "create_app", "serve"]
