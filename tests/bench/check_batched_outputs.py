#!/usr/bin/python3
"""Checks that dynamic batching does not change answers: the same inputs sent concurrently to a
batching model and one at a time to the same weights without batching give outputs equal to
within --tolerance (default 1e-5, absolute).

Usage: /usr/bin/python3 tests/bench/check_batched_outputs.py --proto-dir DIR --url HOST:PORT
           [--batched linear4_dyn] [--unbatched linear4_plain] [--requests 32] [--rounds 4]

Each round sends --requests distinct single-item FP32 [1, 1024] inputs (fixed seed) to the batched
model all at once, so the server combines them, then each input alone to the unbatched model.
ModelStatistics of the batched model shows the batch sizes that actually formed (the check is
meaningless if every batch had one item, so it fails then too). Prints one JSON line; exit 0 when
every output matched and batches formed, 1 otherwise.
"""
import argparse
import json
import sys

import grpc
import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--batched", default="linear4_dyn")
    parser.add_argument("--unbatched", default="linear4_plain")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()

    sys.path.insert(0, args.proto_dir)
    from inference import grpc_service_pb2 as pb  # noqa: E402 (generated at bench time)

    channel = grpc.insecure_channel(args.url, options=[
        ("grpc.max_receive_message_length", 64 << 20)])
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                request_serializer=pb.ModelInferRequest.SerializeToString,
                                response_deserializer=pb.ModelInferResponse.FromString)
    statistics = channel.unary_unary(
        "/inference.GRPCInferenceService/ModelStatistics",
        request_serializer=pb.ModelStatisticsRequest.SerializeToString,
        response_deserializer=pb.ModelStatisticsResponse.FromString)

    def request(model, x):
        r = pb.ModelInferRequest(model_name=model)
        r.inputs.add(name="x", datatype="FP32", shape=[1, 1024])
        r.raw_input_contents.append(x.astype("<f4").tobytes())
        return r

    def output(response):
        return np.frombuffer(response.raw_output_contents[0], dtype="<f4")

    def counts():
        stats = statistics(pb.ModelStatisticsRequest(name=args.batched), timeout=30)
        per_size = {}
        for m in stats.model_stats:
            for b in m.batch_stats:
                per_size[b.batch_size] = per_size.get(b.batch_size, 0) + b.compute_infer.count
        return (sum(m.inference_count for m in stats.model_stats),
                sum(m.execution_count for m in stats.model_stats), per_size)

    rng = np.random.default_rng(0)
    inferences0, executions0, sizes0 = counts()
    max_diff = 0.0
    compared = 0
    for _ in range(args.rounds):
        xs = [rng.random(1024, dtype=np.float32) for _ in range(args.requests)]
        pending = [infer.future(request(args.batched, x), timeout=60) for x in xs]
        batched = [output(f.result()) for f in pending]
        for x, y in zip(xs, batched):
            alone = output(infer(request(args.unbatched, x), timeout=60))
            max_diff = max(max_diff, float(np.max(np.abs(alone - y))))
            compared += 1
    inferences1, executions1, sizes1 = counts()
    sizes = [size for size, n in sizes1.items() if n > sizes0.get(size, 0)]
    executions = executions1 - executions0
    avg_batch = (inferences1 - inferences0) / executions if executions else 0.0
    ok = max_diff <= args.tolerance and avg_batch > 1.0
    print(json.dumps({"compared": compared, "max_abs_diff": max_diff, "tolerance": args.tolerance,
                      "batched_executions": executions, "avg_batch": round(avg_batch, 2),
                      "batch_sizes_seen": sorted(sizes), "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
