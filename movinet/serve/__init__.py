"""`movinet serve`: live recognition in the browser and over HTTP, many streams on one model.

    from movinet.serve import ServedModel, ServeSettings, ServerThread, create_app
    model = ServedModel.load("export/movinet_a0_stream.onnx")
    with ServerThread(create_app(model, ServeSettings(max_batch=16))) as server:
        print(server.url)

Layout: `model` (the one module that touches predictors), `frames` (frame decoding and limits),
`batching` (the batch scheduler), `connection` (one WebSocket stream), `app` (the Starlette app),
`access` (Host, Origin and token checks), `protocol` (uvicorn's WebSocket protocol, bounded, and the
rate-limited client log), `server` (uvicorn, `movinet serve`), `client` (a Python client),
`static/` (the page).
"""

from movinet.serve.access import AccessPolicy, access_policy
from movinet.serve.app import ServeSettings, create_app
from movinet.serve.connection import StreamLimits
from movinet.serve.frames import FrameLimits
from movinet.serve.model import ServedModel
from movinet.serve.server import ServerThread, serve

__all__ = ["AccessPolicy", "FrameLimits", "ServeSettings", "ServedModel", "ServerThread", "StreamLimits",
           "access_policy", "create_app", "serve"]
