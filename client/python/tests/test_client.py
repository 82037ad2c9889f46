"""The gridserve Python client against a real server serving tests/testing/make_test_models.py.

Run by tests/e2e/python_client_test.cc, which starts the server and sets GRIDSERVE_URL and
PYTHONPATH (the build tree's package). Alone:
    GRIDSERVE_URL=127.0.0.1:8001 PYTHONPATH=build/client/python \
        /usr/bin/python3 -m unittest -v client/python/tests/test_client.py
"""
import asyncio
import os
import unittest
from concurrent import futures

import grpc
import numpy as np

import gridserve
import gridserve.aio
from gridserve._proto.inference import grpc_service_pb2 as pb
from gridserve._proto.inference import grpc_service_pb2_grpc as pb_grpc

URL = os.environ.get("GRIDSERVE_URL", "127.0.0.1:8001")
TIMEOUT_S = 30


def add_sub_inputs(rows=2):
    a = np.arange(4 * rows, dtype=np.float32).reshape(rows, 4)
    b = np.full((rows, 4), 0.5, dtype=np.float32)
    return a, b


class SyncClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = gridserve.Client(URL, timeout=TIMEOUT_S)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def test_health_and_metadata(self):
        self.assertTrue(self.client.is_server_live())
        self.assertTrue(self.client.is_model_ready("add_sub"))
        self.assertFalse(self.client.is_model_ready("corrupt"))
        server = self.client.server_metadata()
        self.assertEqual(server.name, "gridserve")
        meta = self.client.model_metadata("add_sub")
        self.assertEqual(meta.name, "add_sub")
        self.assertEqual([t.name for t in meta.inputs], ["INPUT__0", "INPUT__1"])
        self.assertEqual(meta.inputs[0], gridserve.TensorSpec("INPUT__0", "FP32", [-1, 4]))
        self.assertEqual(self.client.model_config("add_sub").max_batch_size, 8)
        info = self.client.server_info()
        self.assertEqual(info["name"], "gridserve")
        self.assertIn("library", info["blas"])
        names = {m["name"] for m in self.client.repository_index()}
        self.assertTrue({"add_sub", "strlen", "echo"} <= names)

    def test_numeric_infer(self):
        a, b = add_sub_inputs(3)
        out = self.client.infer("add_sub", {"INPUT__0": a, "INPUT__1": b})
        self.assertEqual(set(out), {"OUTPUT__0", "OUTPUT__1"})
        np.testing.assert_array_equal(out["OUTPUT__0"], a + b)
        np.testing.assert_array_equal(out["OUTPUT__1"], a - b)
        self.assertEqual(out["OUTPUT__0"].dtype, np.float32)

    def test_requested_outputs_and_version(self):
        a, b = add_sub_inputs()
        out = self.client.infer("add_sub", {"INPUT__0": a, "INPUT__1": b}, outputs=["OUTPUT__1"],
                                version=1)
        self.assertEqual(list(out), ["OUTPUT__1"])
        np.testing.assert_array_equal(out["OUTPUT__1"], a - b)

    def test_every_numeric_type_round_trips(self):
        dtypes = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16,
                  np.float32, np.float64]
        inputs = {}
        for i, dt in enumerate(dtypes):
            values = np.array([[1, 0], [-3 if np.dtype(dt).kind != "u" else 3, 2]])
            inputs["INPUT__%d" % i] = values.astype(dt)
        out = self.client.infer("identity_types", inputs)
        for i, dt in enumerate(dtypes):
            got = out["OUTPUT__%d" % i]
            self.assertEqual(got.dtype, np.dtype(dt), i)
            np.testing.assert_array_equal(got, inputs["INPUT__%d" % i])

    def test_float64_and_lists_are_cast_to_the_model_type(self):
        # NumPy's default float64 and plain lists reach an FP32 model through its metadata.
        out = self.client.infer("add_sub", {"INPUT__0": [[1.5, 2, 3, 4]],
                                            "INPUT__1": np.ones((1, 4))})
        np.testing.assert_array_equal(out["OUTPUT__0"], [[2.5, 3, 4, 5]])
        # Without casting the server sees FP64 and refuses it.
        with gridserve.Client(URL, timeout=TIMEOUT_S, cast_inputs=False) as raw:
            with self.assertRaises(gridserve.GridserveError) as e:
                raw.infer("add_sub", {"INPUT__0": np.ones((1, 4)), "INPUT__1": np.ones((1, 4))})
            self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)

    def test_int64_that_does_not_fit_int32_is_refused_locally(self):
        big = np.array([[2**40, 0]], dtype=np.int64)
        inputs = {"INPUT__%d" % i: np.zeros((1, 2), dtype=dt) for i, dt in enumerate(
            [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32,
             np.float64])}
        inputs["INPUT__4"] = big
        with self.assertRaises(gridserve.GridserveError) as e:
            self.client.infer("identity_types", inputs)
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)

    def test_bytes_in_numeric_out(self):
        text = np.array([[b"grid"], ["m\u00e9ter"], [b""]], dtype=object)
        out = self.client.infer("strlen", {"text": text})
        np.testing.assert_array_equal(out["length"], [[4], [6], [0]])  # UTF-8 bytes
        self.assertEqual(out["length"].dtype, np.int64)

    def test_bytes_in_bytes_out(self):
        text = np.array([[b"a", b"b\x00c"], ["\u00fc", b"\xff"]], dtype=object)
        out = self.client.infer("echo", {"text": text})["echoed"]
        self.assertEqual(out.dtype, object)
        self.assertEqual(out.shape, (2, 2))
        self.assertEqual(out.tolist(), [[b"a!", b"b\x00c!"], ["\u00fc!".encode(), b"\xff!"]])
        # A str array is sent as UTF-8 too.
        out = self.client.infer("echo", {"text": np.array([["x", "yz"]])})["echoed"]
        self.assertEqual(out.tolist(), [[b"x!", b"yz!"]])

    def test_statistics_count_inferences(self):
        def count():
            [stats] = self.client.model_statistics("strlen", version=1)
            return stats.inference_count
        before = count()
        self.client.infer("strlen", {"text": np.array([[b"a"], [b"b"]], dtype=object)})
        self.assertEqual(count(), before + 2)
        every = self.client.model_statistics()
        self.assertIn("strlen", {s.name for s in every})

    def test_errors_carry_grpc_code(self):
        a, b = add_sub_inputs()
        cases = [
            (lambda: self.client.infer("no_such_model", {"x": a}), grpc.StatusCode.NOT_FOUND),
            (lambda: self.client.infer("add_sub", {"INPUT__0": a[:, :3], "INPUT__1": b[:, :3]}),
             grpc.StatusCode.INVALID_ARGUMENT),
            (lambda: self.client.infer("add_sub", {"INPUT__0": a}),
             grpc.StatusCode.INVALID_ARGUMENT),
            (lambda: self.client.infer("add_sub", {"INPUT__0": a, "INPUT__1": b},
                                       outputs=["NOPE"]), grpc.StatusCode.INVALID_ARGUMENT),
            (lambda: self.client.infer("add_sub", {"INPUT__0": a, "INPUT__1": b}, version=99),
             grpc.StatusCode.NOT_FOUND),
            (lambda: self.client.model_metadata("no_such_model"), grpc.StatusCode.NOT_FOUND),
            (lambda: self.client.infer("echo", {"text": np.array([[1.5]], dtype=object)}),
             grpc.StatusCode.INVALID_ARGUMENT),
            (lambda: self.client.infer("add_sub", {"INPUT__0": a}, version=1, alias="prod"),
             grpc.StatusCode.INVALID_ARGUMENT),
        ]
        for i, (call, code) in enumerate(cases):
            with self.assertRaises(gridserve.GridserveError, msg=str(i)) as e:
                call()
            self.assertEqual(e.exception.code, code, "case %d: %s" % (i, e.exception))
            self.assertTrue(e.exception.message, i)
            self.assertIn(code.name, str(e.exception))

    def test_unreachable_server_is_unavailable(self):
        with gridserve.Client("127.0.0.1:1", timeout=5) as dead:
            with self.assertRaises(gridserve.GridserveError) as e:
                dead.is_server_live()
            self.assertEqual(e.exception.code, grpc.StatusCode.UNAVAILABLE)

    def test_token_is_sent_and_ignored_without_auth(self):
        with gridserve.Client(URL, token="secret", timeout=TIMEOUT_S) as c:
            self.assertTrue(c.is_server_live())


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.client = gridserve.aio.AsyncClient(URL, timeout=TIMEOUT_S)

    async def asyncTearDown(self):
        await self.client.close()

    async def test_concurrent_infers(self):
        self.assertTrue(await self.client.is_server_ready())
        a, b = add_sub_inputs(1)
        calls = [self.client.infer("add_sub", {"INPUT__0": a + i, "INPUT__1": b})
                 for i in range(32)]
        results = await asyncio.gather(*calls)
        for i, out in enumerate(results):
            np.testing.assert_array_equal(out["OUTPUT__0"], a + i + b)

    async def test_bytes_metadata_statistics(self):
        meta = await self.client.model_metadata("echo")
        self.assertEqual(meta.inputs[0].datatype, "BYTES")
        out = await self.client.infer("echo", {"text": np.array([["volt"]], dtype=object)})
        self.assertEqual(out["echoed"].tolist(), [[b"volt!"]])
        stats = await self.client.model_statistics("echo")
        self.assertGreaterEqual(stats[0].inference_count, 1)

    async def test_errors(self):
        with self.assertRaises(gridserve.GridserveError) as e:
            await self.client.infer("no_such_model", {"x": np.zeros((1, 1), np.float32)})
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)


def stream_requests(count, bad_every=0):
    """add_sub requests with ids; every `bad_every`-th names an unknown model."""
    a, b = add_sub_inputs(1)
    for i in range(count):
        model = "no_such_model" if bad_every and i % bad_every == 0 else "add_sub"
        yield gridserve.InferRequest(model, {"INPUT__0": a + i, "INPUT__1": b}, id="r%d" % i)


class _FakeStreamServicer(pb_grpc.GRPCInferenceServiceServicer):
    """ModelStreamInfer as Triton answers it, for add_sub only: a response per request carrying
    its id, `error_message` for an unknown model; the stream stays open after an error."""

    def ModelStreamInfer(self, request_iterator, context):
        for request in request_iterator:
            if request.model_name != "add_sub":
                yield pb.ModelStreamInferResponse(
                    error_message="NOT_FOUND: unknown model '%s'" % request.model_name,
                    infer_response=pb.ModelInferResponse(id=request.id))
                continue
            a, b = (np.frombuffer(raw, "<f4") for raw in request.raw_input_contents)
            response = pb.ModelInferResponse(model_name="add_sub", model_version="1",
                                             id=request.id)
            for name, value in (("OUTPUT__0", a + b), ("OUTPUT__1", a - b)):
                response.outputs.add(name=name, datatype="FP32", shape=request.inputs[0].shape)
                response.raw_output_contents.append(value.astype("<f4").tobytes())
            yield pb.ModelStreamInferResponse(infer_response=response)


class StreamProtocolTest(unittest.TestCase):
    """The client's side of ModelStreamInfer against a stand-in that answers as Triton does, so
    the client is checked on the protocol whether or not the server under test streams."""

    @classmethod
    def setUpClass(cls):
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(_FakeStreamServicer(), cls.server)
        port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()
        cls.url = "127.0.0.1:%d" % port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(None)

    def test_results_by_id_with_inline_errors(self):
        a, b = add_sub_inputs(1)
        # cast_inputs=False: the stand-in has no ModelMetadata.
        with gridserve.Client(self.url, timeout=TIMEOUT_S, cast_inputs=False) as client:
            results = list(client.stream_infer(stream_requests(30, bad_every=7)))
        self.assertEqual(sorted(r.id for r in results), sorted("r%d" % i for i in range(30)))
        for r in results:
            i = int(r.id[1:])
            if i % 7 == 0:
                self.assertEqual(r.error.code, grpc.StatusCode.NOT_FOUND)
            else:
                np.testing.assert_array_equal(r.outputs["OUTPUT__1"], a + i - b)

    def test_async_stream_from_async_generator(self):
        async def requests():
            for r in stream_requests(10):
                yield r

        async def run():
            async with gridserve.aio.AsyncClient(self.url, timeout=TIMEOUT_S,
                                                 cast_inputs=False) as client:
                return [r async for r in client.stream_infer(requests())]
        results = asyncio.run(run())
        self.assertEqual([r.id for r in results], ["r%d" % i for i in range(10)])
        self.assertTrue(all(r.error is None for r in results))

    def test_bad_input_ends_the_stream_with_its_error(self):
        bad = [gridserve.InferRequest("add_sub", {"x": np.array([[object()]], dtype=object)})]
        with gridserve.Client(self.url, timeout=TIMEOUT_S, cast_inputs=False) as client:
            with self.assertRaises(gridserve.GridserveError) as e:
                list(client.stream_infer(bad))
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)


class StreamingTest(unittest.TestCase):
    """ModelStreamInfer on the real server (Triton's bidirectional stream)."""

    def test_stream_answers_every_request_by_id_errors_inline(self):
        a, b = add_sub_inputs(1)
        with gridserve.Client(URL, timeout=TIMEOUT_S) as client:
            results = list(client.stream_infer(stream_requests(100, bad_every=10)))
        self.assertEqual(sorted(r.id for r in results), sorted("r%d" % i for i in range(100)))
        for r in results:
            i = int(r.id[1:])
            if i % 10 == 0:
                self.assertIsNotNone(r.error, r.id)
                self.assertIsNone(r.outputs)
            else:
                self.assertIsNone(r.error, r.id)
                np.testing.assert_array_equal(r.outputs["OUTPUT__0"], a + i + b)

    def test_async_stream(self):
        async def run():
            async with gridserve.aio.AsyncClient(URL, timeout=TIMEOUT_S) as client:
                return [r async for r in client.stream_infer(stream_requests(20))]
        results = asyncio.run(run())
        self.assertEqual(sorted(r.id for r in results), sorted("r%d" % i for i in range(20)))
        self.assertTrue(all(r.error is None for r in results))


if __name__ == "__main__":
    unittest.main()
