"""The one exception the client raises."""
import grpc


class GridserveError(Exception):
    """A failed call: the gRPC status code and message, as the server (or gRPC) gave them.

    `code` is a `grpc.StatusCode` (NOT_FOUND for an unknown model, INVALID_ARGUMENT for a bad
    input, UNAVAILABLE when the server cannot be reached, ...); `message` is the text. Errors the
    client finds itself carry the code a server would give: INVALID_ARGUMENT for an input it
    cannot encode, INTERNAL for a malformed response.
    """

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code.name, message))
        self.code = code
        self.message = message

    @classmethod
    def from_rpc_error(cls, error):
        """From a grpc.RpcError (sync or asyncio)."""
        code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
        details = error.details() if callable(getattr(error, "details", None)) else str(error)
        return cls(code or grpc.StatusCode.UNKNOWN, details or "")

    @classmethod
    def local_internal(cls, message):
        return cls(grpc.StatusCode.INTERNAL, message)


def invalid_argument(message):
    return GridserveError(grpc.StatusCode.INVALID_ARGUMENT, message)
