"""The blocking client."""
import threading

import grpc

from gridserve import _messages
from gridserve._errors import GridserveError
from gridserve._proto.inference import grpc_service_pb2 as pb
from gridserve._proto.inference import grpc_service_pb2_grpc as pb_grpc
from gridserve._proto.gridserve.v1 import server_info_pb2 as info_pb
from gridserve._proto.gridserve.v1 import server_info_pb2_grpc as info_grpc

DEFAULT_MAX_MESSAGE_BYTES = 64 << 20


def channel_options(max_message_bytes):
    # gRPC's default receive limit (4 MiB) is too small for image batches.
    return [("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes)]


def channel_credentials(ssl, root_certificates, private_key, certificate_chain):
    """None for plaintext, else TLS credentials (system roots unless `root_certificates`)."""
    if not ssl:
        return None
    return grpc.ssl_channel_credentials(root_certificates=root_certificates,
                                        private_key=private_key,
                                        certificate_chain=certificate_chain)


def call_metadata(token):
    return (("authorization", "Bearer " + token),) if token else None


class _InputTypes:
    """Input datatypes per (model, version), read once from ModelMetadata; thread-safe."""

    def __init__(self):
        self._mu = threading.Lock()
        self._types = {}

    def get(self, key):
        with self._mu:
            return self._types.get(key)

    def put(self, key, types):
        with self._mu:
            self._types[key] = types

    def forget(self, key):
        with self._mu:
            self._types.pop(key, None)


class Client:
    """Blocking client for a KServe v2 gRPC server (gridserve, Triton, KServe).

    `url` is "host:port". `ssl=True` uses TLS (`root_certificates`, `private_key`,
    `certificate_chain`: PEM bytes, optional); `token` is sent as `authorization: Bearer TOKEN`
    on every call. `timeout` (seconds, None = no deadline) bounds each call. With `cast_inputs`
    (default) the client reads each model's input datatypes once from its metadata and converts
    arrays that differ only in width (float64 -> FP32, int64 -> INT32 when every value fits,
    str -> BYTES), so arrays straight from NumPy or pandas work; `cast_inputs=False` sends every
    array as it is.

    Every failure raises GridserveError with the gRPC code and message. One Client may be used
    from several threads at once; `close()` (or a `with` block) releases the channel.
    """

    def __init__(self, url, ssl=False, token=None, root_certificates=None, private_key=None,
                 certificate_chain=None, timeout=None, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                 cast_inputs=True):
        options = channel_options(max_message_bytes)
        credentials = channel_credentials(ssl, root_certificates, private_key, certificate_chain)
        if credentials is None:
            self._channel = grpc.insecure_channel(url, options=options)
        else:
            self._channel = grpc.secure_channel(url, credentials, options=options)
        self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
        self._info_stub = info_grpc.ServerInfoServiceStub(self._channel)
        self._metadata = call_metadata(token)
        self._timeout = timeout
        self._cast_inputs = cast_inputs
        self._input_types = _InputTypes()
        self.url = url

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, timeout=None):
        try:
            return method(request, timeout=self._timeout if timeout is None else timeout,
                          metadata=self._metadata)
        except grpc.RpcError as e:
            raise GridserveError.from_rpc_error(e) from None

    # Health.
    def is_server_live(self):
        return self._call(self._stub.ServerLive, pb.ServerLiveRequest()).live

    def is_server_ready(self):
        return self._call(self._stub.ServerReady, pb.ServerReadyRequest()).ready

    def is_model_ready(self, model, version=None, alias=None):
        request = pb.ModelReadyRequest(name=model,
                                       version=_messages.model_version(version, alias))
        return self._call(self._stub.ModelReady, request).ready

    # Metadata, configuration, statistics, repository.
    def server_info(self):
        """gridserve's own GetServerInfo (versions, BLAS kernels, CPU, allocator) as a dict;
        UNIMPLEMENTED from other servers."""
        return _messages.to_dict(
            self._call(self._info_stub.GetServerInfo, info_pb.GetServerInfoRequest()))

    def server_metadata(self):
        return _messages.server_metadata(
            self._call(self._stub.ServerMetadata, pb.ServerMetadataRequest()))

    def model_metadata(self, model, version=None, alias=None):
        request = pb.ModelMetadataRequest(name=model,
                                          version=_messages.model_version(version, alias))
        return _messages.model_metadata(self._call(self._stub.ModelMetadata, request))

    def model_config(self, model, version=None):
        """The model's configuration as an inference.ModelConfig protobuf message."""
        request = pb.ModelConfigRequest(name=model, version=_messages.model_version(version, None))
        return self._call(self._stub.ModelConfig, request).config

    def model_statistics(self, model="", version=None):
        """[ModelStatistics] for every ready version of `model` (all models when empty)."""
        request = pb.ModelStatisticsRequest(name=model,
                                            version=_messages.model_version(version, None))
        response = self._call(self._stub.ModelStatistics, request)
        return [_messages.model_statistics(s) for s in response.model_stats]

    def repository_index(self, ready_only=False):
        """[{"name", "version", "state", "reason"}] for every model the server knows."""
        response = self._call(self._stub.RepositoryIndex, pb.RepositoryIndexRequest(ready=ready_only))
        return [{"name": m.name, "version": m.version, "state": m.state, "reason": m.reason}
                for m in response.models]

    def load_model(self, model):
        """Triton's RepositoryModelLoad (needs --model-control-mode=explicit on the server)."""
        self._call(self._stub.RepositoryModelLoad, pb.RepositoryModelLoadRequest(model_name=model))

    def unload_model(self, model):
        self._call(self._stub.RepositoryModelUnload,
                   pb.RepositoryModelUnloadRequest(model_name=model))

    # Inference.
    def _types_for(self, model, version):
        if not self._cast_inputs:
            return None
        key = (model, version)
        types = self._input_types.get(key)
        if types is None:
            try:
                metadata = self._call(self._stub.ModelMetadata,
                                      pb.ModelMetadataRequest(name=model, version=version))
            except GridserveError:
                # Unknown model or version, server down: send the inputs as they are and let the
                # inference call give the server's own answer (inline on a stream).
                return None
            types = {t.name: t.datatype for t in metadata.inputs}
            self._input_types.put(key, types)
        return types

    def _request(self, model, inputs, outputs, version, alias, request_id, parameters):
        wire_version = _messages.model_version(version, alias)
        return _messages.infer_request(model, inputs, outputs, version, alias, request_id,
                                       parameters, self._types_for(model, wire_version))

    def infer(self, model, inputs, outputs=None, version=None, alias=None, request_id="",
              parameters=None, timeout=None):
        """Runs `model` on `inputs` (name -> array) and returns name -> NumPy array.

        BYTES tensors are object arrays of `bytes` both ways (str elements are sent as UTF-8).
        `outputs`: None for all, a list of names, or name -> parameters (e.g.
        {"probabilities": {"classification": 3}}). `version` or `alias` picks the model version
        (neither: the server's policy). `parameters` become request parameters (Triton's
        `priority`, `timeout` in microseconds, ...). `timeout` (seconds) overrides the client's.
        """
        request = self._request(model, inputs, outputs, version, alias, request_id, parameters)
        try:
            response = self._call(self._stub.ModelInfer, request, timeout)
        except GridserveError as e:
            if e.code == grpc.StatusCode.INVALID_ARGUMENT:
                # The model may have been replaced with one of other input types: read them again.
                self._input_types.forget((model, request.model_version))
            raise
        return _messages.infer_outputs(response)

    def stream_infer(self, requests, timeout=None):
        """Sends every InferRequest of the iterable `requests` on one ModelStreamInfer stream and
        yields a StreamResult per answer, in the order the server answers (match them by `id`).

        A request the server refuses yields a StreamResult with `error` set and the stream goes
        on; a failure of the stream itself raises GridserveError. Requests are read from the
        iterable as the stream sends them, so it may be a generator that produces them lazily.
        """
        failure = []

        def wire_requests():
            for r in requests:
                try:
                    yield self._request(r.model, r.inputs, r.outputs, r.version, r.alias, r.id,
                                        r.parameters)
                except GridserveError as e:
                    failure.append(e)  # gRPC cancels the stream; re-raised below
                    raise

        responses = self._stub.ModelStreamInfer(
            wire_requests(), timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata)
        try:
            for response in responses:
                yield _messages.stream_result(response)
        except grpc.RpcError as e:
            if failure:
                raise failure[0] from None
            raise GridserveError.from_rpc_error(e) from None
        finally:
            responses.cancel()
