"""The asyncio client: the same calls as gridserve.Client, as coroutines (grpc.aio).

    async with gridserve.aio.AsyncClient("localhost:8001") as client:
        results = await asyncio.gather(*(client.infer("sentiment", {"text": t}) for t in texts))
"""
import asyncio

import grpc
import grpc.aio

from gridserve import _messages
from gridserve._client import (DEFAULT_MAX_MESSAGE_BYTES, call_metadata, channel_credentials,
                               channel_options)
from gridserve._errors import GridserveError
from gridserve._proto.inference import grpc_service_pb2 as pb
from gridserve._proto.inference import grpc_service_pb2_grpc as pb_grpc
from gridserve._proto.gridserve.v1 import server_info_pb2 as info_pb
from gridserve._proto.gridserve.v1 import server_info_pb2_grpc as info_grpc


class AsyncClient:
    """Asyncio client; arguments, results and errors as gridserve.Client. Create it and use it
    inside one running event loop; `await close()` (or `async with`) releases the channel."""

    def __init__(self, url, ssl=False, token=None, root_certificates=None, private_key=None,
                 certificate_chain=None, timeout=None, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                 cast_inputs=True):
        options = channel_options(max_message_bytes)
        credentials = channel_credentials(ssl, root_certificates, private_key, certificate_chain)
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(url, options=options)
        else:
            self._channel = grpc.aio.secure_channel(url, credentials, options=options)
        self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
        self._info_stub = info_grpc.ServerInfoServiceStub(self._channel)
        self._metadata = call_metadata(token)
        self._timeout = timeout
        self._cast_inputs = cast_inputs
        self._input_types = {}  # (model, version) -> {input: datatype}; one event loop only
        self.url = url

    async def close(self):
        await self._channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def _call(self, method, request, timeout=None):
        try:
            return await method(request, timeout=self._timeout if timeout is None else timeout,
                                metadata=self._metadata)
        except grpc.RpcError as e:
            raise GridserveError.from_rpc_error(e) from None

    async def is_server_live(self):
        return (await self._call(self._stub.ServerLive, pb.ServerLiveRequest())).live

    async def is_server_ready(self):
        return (await self._call(self._stub.ServerReady, pb.ServerReadyRequest())).ready

    async def is_model_ready(self, model, version=None, alias=None):
        request = pb.ModelReadyRequest(name=model,
                                       version=_messages.model_version(version, alias))
        return (await self._call(self._stub.ModelReady, request)).ready

    async def server_info(self):
        return _messages.to_dict(
            await self._call(self._info_stub.GetServerInfo, info_pb.GetServerInfoRequest()))

    async def server_metadata(self):
        return _messages.server_metadata(
            await self._call(self._stub.ServerMetadata, pb.ServerMetadataRequest()))

    async def model_metadata(self, model, version=None, alias=None):
        request = pb.ModelMetadataRequest(name=model,
                                          version=_messages.model_version(version, alias))
        return _messages.model_metadata(await self._call(self._stub.ModelMetadata, request))

    async def model_config(self, model, version=None):
        request = pb.ModelConfigRequest(name=model, version=_messages.model_version(version, None))
        return (await self._call(self._stub.ModelConfig, request)).config

    async def model_statistics(self, model="", version=None):
        request = pb.ModelStatisticsRequest(name=model,
                                            version=_messages.model_version(version, None))
        response = await self._call(self._stub.ModelStatistics, request)
        return [_messages.model_statistics(s) for s in response.model_stats]

    async def _request(self, model, inputs, outputs, version, alias, request_id, parameters):
        wire_version = _messages.model_version(version, alias)
        types = None
        if self._cast_inputs:
            key = (model, wire_version)
            types = self._input_types.get(key)
            if types is None:
                try:
                    metadata = await self._call(self._stub.ModelMetadata,
                                                pb.ModelMetadataRequest(name=model,
                                                                        version=wire_version))
                    types = {t.name: t.datatype for t in metadata.inputs}
                    self._input_types[key] = types
                except GridserveError:
                    pass  # as Client: the inference call gives the server's own answer
        return _messages.infer_request(model, inputs, outputs, version, alias, request_id,
                                       parameters, types)

    async def infer(self, model, inputs, outputs=None, version=None, alias=None, request_id="",
                    parameters=None, timeout=None):
        request = await self._request(model, inputs, outputs, version, alias, request_id,
                                      parameters)
        try:
            response = await self._call(self._stub.ModelInfer, request, timeout)
        except GridserveError as e:
            if e.code == grpc.StatusCode.INVALID_ARGUMENT:
                self._input_types.pop((model, request.model_version), None)
            raise
        return _messages.infer_outputs(response)

    async def stream_infer(self, requests, timeout=None):
        """An async iterator of StreamResult for the InferRequests of `requests` (an iterable or
        an async iterable), all sent on one ModelStreamInfer stream."""
        call = self._stub.ModelStreamInfer(timeout=self._timeout if timeout is None else timeout,
                                           metadata=self._metadata)

        async def send():
            try:
                if hasattr(requests, "__aiter__"):
                    async for r in requests:
                        await call.write(await self._request(r.model, r.inputs, r.outputs,
                                                             r.version, r.alias, r.id,
                                                             r.parameters))
                else:
                    for r in requests:
                        await call.write(await self._request(r.model, r.inputs, r.outputs,
                                                             r.version, r.alias, r.id,
                                                             r.parameters))
                await call.done_writing()
            except (grpc.RpcError, asyncio.InvalidStateError):
                return  # the call already ended; the reader reports its status
            except BaseException:
                call.cancel()
                raise

        sender = asyncio.ensure_future(send())
        try:
            while True:
                try:
                    response = await call.read()
                except grpc.RpcError as e:
                    if sender.done() and sender.exception() is not None:
                        raise sender.exception() from None
                    raise GridserveError.from_rpc_error(e) from None
                except asyncio.CancelledError:
                    if sender.done() and sender.exception() is not None:
                        raise sender.exception() from None
                    raise
                if response is grpc.aio.EOF:
                    break
                yield _messages.stream_result(response)
            await sender
        finally:
            if not sender.done():
                sender.cancel()
                call.cancel()
