"""Request building and response reading shared by the blocking and the asyncio clients.

Nothing here does I/O: it turns Python/NumPy values into protocol messages and back.
"""
import dataclasses
from typing import Dict, List, Mapping, Optional

import grpc
import numpy as np
from google.protobuf import json_format

from gridserve import _tensors
from gridserve._errors import GridserveError, invalid_argument
from gridserve._proto.inference import grpc_service_pb2 as pb


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: name, KServe datatype, shape (-1 = any size)."""
    name: str
    datatype: str
    shape: List[int]


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    name: str
    versions: List[str]
    platform: str
    inputs: List[TensorSpec]
    outputs: List[TensorSpec]


@dataclasses.dataclass(frozen=True)
class ServerMetadata:
    name: str
    version: str
    extensions: List[str]


@dataclasses.dataclass(frozen=True)
class ModelStatistics:
    """Triton's statistics for one model version, plus gridserve's resource accounting.

    `cpu_seconds`, `energy_joules` and `joules_per_inference` are None when the server does not
    report them (Triton, or a gridserve without accounting). Energy is an estimate: CPU seconds
    times the server's `--cpu-watts-per-core` (docs/metrics.md). `proto` is the full message.
    """
    name: str
    version: str
    inference_count: int
    execution_count: int
    last_inference_ms: int
    success_count: int
    success_ns: int
    queue_ns: int
    compute_infer_ns: int
    cpu_seconds: Optional[float]
    energy_joules: Optional[float]
    joules_per_inference: Optional[float]
    proto: pb.ModelStatistics = dataclasses.field(repr=False)


@dataclasses.dataclass
class InferRequest:
    """One request on a stream (Client.stream_infer): the same arguments as Client.infer."""
    model: str
    inputs: Mapping[str, np.ndarray]
    outputs: Optional[object] = None
    version: Optional[str] = None
    alias: Optional[str] = None
    id: str = ""
    parameters: Optional[Mapping[str, object]] = None


@dataclasses.dataclass(frozen=True)
class StreamResult:
    """One answer on a stream: `outputs` for a success, `error` (a GridserveError) for a request
    the server refused; the stream goes on after an error. `id` is the request's id."""
    id: str
    model: str
    version: str
    outputs: Optional[Dict[str, np.ndarray]]
    error: Optional[GridserveError]


def to_dict(message):
    """A protobuf message as a dict with the proto's field names, every field present."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


def model_version(version, alias):
    """The wire `model_version` for a call: a version number, an alias (the registry resolves it
    on the server), or empty for the server's version policy."""
    if version is not None and alias is not None:
        raise invalid_argument("give a version or an alias, not both")
    if alias is not None:
        return str(alias)
    return "" if version is None else str(version)


def _set_parameter(param, key, value):
    # bool first: bool is an int in Python.
    if isinstance(value, (bool, np.bool_)):
        param.bool_param = bool(value)
    elif isinstance(value, (int, np.integer)):
        if value < 2**63:
            param.int64_param = int(value)
        else:
            param.uint64_param = int(value)
    elif isinstance(value, (float, np.floating)):
        param.double_param = float(value)
    elif isinstance(value, str):
        param.string_param = value
    else:
        raise invalid_argument("parameter '%s': %s is not bool, int, float or str"
                               % (key, type(value).__name__))


def _set_parameters(target, parameters):
    for key, value in (parameters or {}).items():
        _set_parameter(target[key], key, value)


def infer_request(model, inputs, outputs=None, version=None, alias=None, request_id="",
                  parameters=None, input_types=None):
    """A ModelInferRequest with every input in raw_input_contents.

    `inputs` maps input names to arrays (anything np.asarray accepts; str/bytes lists become
    BYTES). `outputs` is None (all outputs), a list of names, or a dict name -> parameters (for
    example {"probabilities": {"classification": 3}}, Triton's classification extension).
    `input_types` (name -> datatype, from the model's metadata) converts arrays whose dtype
    differs only in width, e.g. float64 -> FP32.
    """
    if not isinstance(model, str) or not model:
        raise invalid_argument("model name must be a non-empty string")
    if not inputs:
        raise invalid_argument("no inputs given")
    request = pb.ModelInferRequest(model_name=model, model_version=model_version(version, alias),
                                   id=request_id or "")
    _set_parameters(request.parameters, parameters)
    for name, value in inputs.items():
        array = value if isinstance(value, np.ndarray) else _as_array(value, name)
        if input_types and name in input_types:
            array = _tensors.cast_to(array, input_types[name], name)
        datatype, shape, raw = _tensors.to_raw(array, name)
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(raw)
    if outputs is not None:
        items = outputs.items() if isinstance(outputs, Mapping) else ((n, None) for n in outputs)
        for name, params in items:
            out = request.outputs.add(name=name)
            _set_parameters(out.parameters, params)
    return request


def _as_array(value, name):
    array = np.asarray(value)
    if array.dtype.kind in ("U", "S"):
        array = array.astype(object)
    if array.dtype == object and array.ndim == 0:
        raise invalid_argument("input '%s': a scalar; give an array with a batch dimension" % name)
    return array


def infer_outputs(response):
    """name -> NumPy array for every output of a ModelInferResponse."""
    outputs = {}
    raw = response.raw_output_contents
    if raw and len(raw) != len(response.outputs):
        raise GridserveError.local_internal(
            "response has %d raw output buffers for %d outputs" % (len(raw), len(response.outputs)))
    for i, tensor in enumerate(response.outputs):
        if raw:
            outputs[tensor.name] = _tensors.from_raw(tensor.datatype, tensor.shape, raw[i],
                                                     tensor.name)
        else:
            outputs[tensor.name] = _tensors.from_contents(tensor)
    return outputs


def _specs(tensors):
    return [TensorSpec(t.name, t.datatype, [int(d) for d in t.shape]) for t in tensors]


def model_metadata(response):
    return ModelMetadata(response.name, list(response.versions), response.platform,
                         _specs(response.inputs), _specs(response.outputs))


def server_metadata(response):
    return ServerMetadata(response.name, response.version, list(response.extensions))


def _parameter_value(param):
    kind = param.WhichOneof("parameter_choice")
    return None if kind is None else getattr(param, kind)


def model_statistics(stats):
    """ModelStatistics from one inference.ModelStatistics message."""
    params = {}
    if "parameters" in stats.DESCRIPTOR.fields_by_name:
        params = {k: _parameter_value(v) for k, v in stats.parameters.items()}
    infer = stats.inference_stats

    def number(key):
        value = params.get(key)
        return None if value is None else float(value)

    return ModelStatistics(
        name=stats.name, version=stats.version, inference_count=stats.inference_count,
        execution_count=stats.execution_count, last_inference_ms=stats.last_inference,
        success_count=infer.success.count, success_ns=infer.success.ns, queue_ns=infer.queue.ns,
        compute_infer_ns=infer.compute_infer.ns, cpu_seconds=number("cpu_seconds"),
        energy_joules=number("energy_joules"),
        joules_per_inference=number("joules_per_inference"), proto=stats)


def stream_result(response):
    """StreamResult from one ModelStreamInferResponse."""
    message = response.infer_response
    if response.error_message:
        return StreamResult(message.id, message.model_name, message.model_version, None,
                            GridserveError(_stream_error_code(response.error_message),
                                           response.error_message))
    return StreamResult(message.id, message.model_name, message.model_version,
                        infer_outputs(message), None)


def _stream_error_code(message):
    """Triton's stream errors are text only; a leading gRPC code name ("NOT_FOUND: ...") is
    honoured, anything else is UNKNOWN."""
    head = message.split(":", 1)[0].strip()
    return getattr(grpc.StatusCode, head, grpc.StatusCode.UNKNOWN) if head.isupper() else \
        grpc.StatusCode.UNKNOWN
