"""gridserve: Python client for gridserve and any KServe v2 / Triton gRPC inference server.

    import numpy as np, gridserve
    with gridserve.Client("localhost:8001") as client:
        out = client.infer("grid_load_forecast", {"history": history[None, :]})
        forecast = out["forecast"][0]

`gridserve.aio.AsyncClient` is the asyncio variant with the same methods. Every failure raises
`gridserve.GridserveError` carrying the gRPC status code and message.
"""
from gridserve._client import Client
from gridserve._errors import GridserveError
from gridserve._messages import (InferRequest, ModelMetadata, ModelStatistics, ServerMetadata,
                                 StreamResult, TensorSpec)

__version__ = "0.1.0"

__all__ = ["Client", "GridserveError", "InferRequest", "ModelMetadata", "ModelStatistics",
           "ServerMetadata", "StreamResult", "TensorSpec"]
