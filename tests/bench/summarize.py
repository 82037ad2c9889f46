#!/usr/bin/python3
"""Turns the raw results of scripts/bench.sh into the Markdown of docs/benchmarks.md.

Usage: /usr/bin/python3 tests/bench/summarize.py BENCH_OUT [--best]

Reads the gridserve-perf JSON (one step per file; NAME_rK.json for the K-th round of an
alternating comparison), the Google Benchmark JSON and the small JSON files bench.sh writes, and
prints tables and the issue-3 targets, met or missed. Figures of repeated steps are medians over
the rounds (each metric separately); a ratio is the median of the per-round ratios of the two
sides measured back to back, which cancels load from other work that drifts between rounds.
--best prints only gridserve's best batching model, its best concurrency and the batch size its
batcher formed there (bench.sh sizes the in-process run with them).
Standard library only.
"""
import glob
import json
import os
import statistics
import sys

OUT = sys.argv[1]


def load(name):
    path = os.path.join(OUT, name + ".json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, OSError):
        return None


def step(name):
    doc = load(name)
    return doc["steps"][0] if doc and doc.get("steps") else None


def rounds(name):
    """Every round of NAME (NAME_r1, NAME_r2, ...), or NAME itself."""
    paths = sorted(p for p in glob.glob(os.path.join(OUT, name + "_r*.json"))
                   if not p.endswith(".cpu.json"))
    names = [os.path.basename(p)[:-5] for p in paths] or [name]
    return [s for s in (step(n) for n in names) if s]


def server_cores(name):
    """gridserve's CPU use during the step(s) NAME, in cores (median over rounds), or None."""
    paths = glob.glob(os.path.join(OUT, name + "_r*.cpu.json")) or [
        os.path.join(OUT, name + ".cpu.json")]
    values = []
    for path in paths:
        try:
            with open(path) as f:
                values.append(json.load(f)["server_millicores"] / 1000)
        except (OSError, ValueError, KeyError):
            pass
    return statistics.median(values) if values else None


def server_us_per_request(name, s):
    """gridserve's CPU time per answered request in step(s) NAME (median step `s`), in us."""
    c = server_cores(name)
    if not c or not s or s["throughput_infer_per_s"] <= 0:
        return None
    return c * 1e6 / s["throughput_infer_per_s"]


def cores(value):
    return "?" if value is None else f"{value:.2f}"


def median_step(name):
    """A step whose numeric fields are medians over the rounds; failures are summed."""
    steps = rounds(name)
    if not steps:
        return None
    m = {"rounds": len(steps)}
    for key, value in steps[0].items():
        values = [s[key] for s in steps if isinstance(s.get(key), (int, float))]
        if key in ("ok", "refused", "errors", "skipped"):
            m[key] = sum(values)
        elif values and len(values) == len(steps):
            m[key] = statistics.median(values)
        else:
            m[key] = value if not values else statistics.median(values)
    m["throughput_all"] = [s["throughput_infer_per_s"] for s in steps]
    return m


def best_dyn():
    """(model, concurrency, median step) of the batching step with the highest throughput."""
    best = (None, None, None)
    candidates = [("linear4_dyn", c, f"batching_on_c{c}") for c in (1, 8, 32, 128)]
    candidates += [("linear4_dyn_1i", c, f"batching_1i_on_c{c}") for c in (32, 128)]
    for model, c, name in candidates:
        s = median_step(name)
        if s and (best[2] is None or
                  s["throughput_infer_per_s"] > best[2]["throughput_infer_per_s"]):
            best = (model, c, s)
    return best


if len(sys.argv) > 2 and sys.argv[2] == "--best":
    model, c, best = best_dyn()
    print(model or "linear4_dyn", c or 32,
          max(1, round(best["server_avg_batch"] or 1)) if best else 1)
    sys.exit(0)


def paired_ratio(numerators, denominators):
    """Median over rounds of numerator_r / denominator_r: robust to load that drifts."""
    ratios = [a / b for a, b in zip(numerators, denominators) if b > 0]
    return statistics.median(ratios) if ratios else None


def ms(us):
    return f"{us / 1000:.1f}"


def spread(s):
    return "/".join(f"{t:.0f}" for t in s["throughput_all"])


def failed(s):
    return s["refused"] + s["errors"]


lines = []
targets = []
p = lines.append

start, end = load("context_start"), load("context_end")
if start and end:
    p(f"Machine: {start['cores']} cores shared with other sessions (load average "
      f"{start['loadavg']} at the start, {end['loadavg']} at the end; CPU pressure "
      f"`{end['cpu_pressure']}`; autogroup scheduling "
      f"{'on' if start['autogroup'] == '1' else start['autogroup']}). "
      "The \"server CPU\" columns give the cores gridserve actually got during a step.\n")

p("### 1. Dynamic batching on vs off (linear4: 4 x Linear(1024,1024) FP32, batch-1 requests)\n")
p("2 instances x 1 intra-op thread unless marked (1i: the default, 1 instance x 2 threads). "
  "Throughput and p99 are medians over the rounds (each round's throughput in brackets); on/off "
  "is the median of the per-round ratios.\n")
p("| concurrency | off: infer/s (rounds) | off: p99 ms | on: infer/s (rounds) | on: p99 ms | "
  "on: avg batch | on / off | failed (off/on) | server CPU, cores (off/on) |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, prefix, c in ([(str(c), "batching", c) for c in (1, 8, 32, 128)] +
                         [(f"{c} (1i)", "batching_1i", c) for c in (32, 128)]):
    off, on = median_step(f"{prefix}_off_c{c}"), median_step(f"{prefix}_on_c{c}")
    if not off or not on:
        p(f"| {label} | missing | | | | | | |")
        continue
    r = paired_ratio(on["throughput_all"], off["throughput_all"])
    if c == 32:
        targets.append((f"c=32{' (default instance group)' if prefix != 'batching' else ''}: "
                        "batching on >= 4x off with zero failed requests",
                        f"{r:.2f}x, {failed(off) + failed(on)} failed",
                        r >= 4 and failed(off) + failed(on) == 0))
    p(f"| {label} | {off['throughput_infer_per_s']:.0f} ({spread(off)}) | {ms(off['p99_us'])} | "
      f"{on['throughput_infer_per_s']:.0f} ({spread(on)}) | {ms(on['p99_us'])} | "
      f"{on['server_avg_batch'] or 0:.1f} | **{r:.2f}x** | {failed(off)}/{failed(on)} | "
      f"{cores(server_cores(f'{prefix}_off_c{c}'))}/{cores(server_cores(f'{prefix}_on_c{c}'))} |")
check = load("outputs_check")
if check:
    p(f"\nOutputs: {check['compared']} answers from the batching model (batch sizes formed: "
      f"{check['batch_sizes_seen']}, average {check['avg_batch']}) vs the same inputs sent alone "
      f"to the model without batching: max |difference| = {check['max_abs_diff']:.3g} "
      f"(tolerance {check['tolerance']:g}): "
      f"{'identical within tolerance' if check['ok'] else 'MISMATCH or no batching'}.")
targets.append(("Batched outputs equal to unbatched execution (1e-5)",
                f"max abs difference {check['max_abs_diff']:.3g}" if check else "not checked",
                bool(check and check["ok"])))

p("\n### 2. gridserve (batching) vs a plain Python gRPC server, concurrency 32\n")
p("| server | infer/s (rounds) | p50 ms | p99 ms |")
p("|---|---:|---:|---:|")
pa, pb = median_step("pythonA_c32"), median_step("pythonB_c32")
pc = median_step("pythonC_c32")
ga, gb = median_step("gridserve_c32"), median_step("gridserve1i_c32")
for label, s in (("Python A: 1 worker thread, LibTorch default intra-op threads", pa),
                 ("Python B: 2 worker threads, 1 intra-op thread each", pb),
                 ("Python C: as B, with OPENBLAS_NUM_THREADS=1", pc),
                 ("gridserve linear4_dyn (2 instances x 1 thread)", ga),
                 ("gridserve linear4_dyn_1i (1 instance x 2 threads)", gb)):
    if s:
        p(f"| {label} | {s['throughput_infer_per_s']:.0f} ({spread(s)}) | {ms(s['p50_us'])} | "
          f"{ms(s['p99_us'])} |")
if pa and pb and ga and gb:
    base = [max(a, b, c) for a, b, c in zip(pa["throughput_all"], pb["throughput_all"],
                                            pc["throughput_all"] if pc else pa["throughput_all"])]
    best = [max(a, b) for a, b in zip(ga["throughput_all"], gb["throughput_all"])]
    r = paired_ratio(best, base)
    p(f"\nThe faster gridserve configuration / the faster Python configuration, per round, "
      f"median over rounds: **{r:.1f}x**.")
    targets.append(("c=32: gridserve with batching >= 10x a plain Python gRPC server",
                    f"{r:.1f}x", r >= 10))

p("\n### 3. Serving efficiency vs in-process LibTorch\n")
eff_gs = median_step("efficiency_gridserve")
best_model, best_c, _ = best_dyn()
mirror = []
for path in sorted(glob.glob(os.path.join(OUT, "inprocess_mirror_r*.json"))):
    with open(path) as f:
        doc = json.load(f)
    if doc.get("benchmarks"):
        mirror.append(doc["benchmarks"][0])
other_doc = load("inprocess_other")
other = other_doc["benchmarks"][0] if other_doc and other_doc.get("benchmarks") else None


def threading(b):
    return f"{int(b['streams'])} stream(s) x {int(b['threads'])} intra-op thread(s)"


if eff_gs and mirror:
    batch = int(mirror[0]["batch"])
    p("| side | batch | throughput, items/s (rounds) |")
    p("|---|---:|---:|")
    p(f"| gridserve {best_model} at concurrency {eff_gs['concurrency']:.0f} | "
      f"{eff_gs['server_avg_batch'] or 0:.1f} (formed) | {eff_gs['throughput_infer_per_s']:.0f} "
      f"({spread(eff_gs)}) |")
    rounds_mirror = "/".join(f"{b['items_per_second']:.0f}" for b in mirror)
    p(f"| in-process, {threading(mirror[0])} (as the server's instances) | {batch} | "
      f"{statistics.median(b['items_per_second'] for b in mirror):.0f} ({rounds_mirror}) |")
    if other:
        p(f"| in-process, {threading(other)} | {batch} | {other['items_per_second']:.0f} |")
    ceilings = [max(b["items_per_second"], other["items_per_second"] if other else 0)
                for b in mirror]
    eff = paired_ratio(eff_gs["throughput_all"], ceilings)
    eff_mirror = paired_ratio(eff_gs["throughput_all"], [b["items_per_second"] for b in mirror])
    gs_cores = server_cores("efficiency_gridserve")
    p(f"\nEfficiency = gridserve / the faster in-process figure, per round, median: "
      f"**{eff * 100:.0f}%** ({eff_mirror * 100:.0f}% of the in-process run threaded as the "
      f"server's instances). Server compute_infer per batch at this step: "
      f"{ms(eff_gs['server_compute_infer_us'] or 0)} ms; queue "
      f"{ms(eff_gs['server_queue_us'] or 0)} ms per request; gridserve used {cores(gs_cores)} "
      f"of the 2 cores, its load generator most of the rest. The in-process side has both cores "
      f"to itself and no network stack.")
    targets.append(("Serving efficiency at the best concurrency >= 70% of in-process LibTorch",
                    f"{eff * 100:.0f}%", eff >= 0.70))

    # Where the CPU goes: the machine's cores pay for the model, the server's serving path and
    # the load generator. The server's throughput is at most cores / (CPU per request).
    grpc_path = median_step("efficiency_grpc_path")
    grpc_cores = server_cores("efficiency_grpc_path")
    server_us = server_us_per_request("efficiency_gridserve", eff_gs)
    path_us = server_us_per_request("efficiency_grpc_path", grpc_path)
    fastest = max([*mirror, *([other] if other else [])], key=lambda b: b["items_per_second"])
    compute_us = fastest.get("process_cpu_us_per_item")
    machine_cores = (load("context_start") or {}).get("cores") or 2
    if server_us and path_us and compute_us and eff_gs.get("client_cpu_us_per_request"):
        in_rate = fastest["items_per_second"]
        client_us = eff_gs["client_cpu_us_per_request"]
        path_client_us = grpc_path.get("client_cpu_us_per_request") or 0
        budget = machine_cores * 1e6
        ceiling = budget / (compute_us + path_us + client_us) / in_rate
        ceiling_alone = budget / (compute_us + path_us) / in_rate
        p("\nWhere the CPU goes at this step (CPU time per request, all cores together):\n")
        p("| | us per request |")
        p("|---|---:|")
        p(f"| in-process LibTorch at batch {batch}, per item ({threading(fastest)}; the "
          f"process's CPU time / items) | {compute_us:.0f} |")
        p(f"| gridserve, everything ({cores(gs_cores)} cores / "
          f"{eff_gs['throughput_infer_per_s']:.0f} infer/s) | {server_us:.0f} |")
        p(f"| gridserve's serving path alone (gRPC, protobuf, scheduler): the trivial add_sub "
          f"at the same concurrency ({cores(grpc_cores)} cores / "
          f"{grpc_path['throughput_infer_per_s']:.0f} infer/s) | {path_us:.0f} |")
        p(f"| the load generator (gridserve-perf's own CPU; {path_client_us:.0f} us on add_sub) "
          f"| {client_us:.0f} |")
        p(f"\nIf the model's work cost the server no more CPU than in-process, and its serving "
          f"path no more than add_sub's (whose messages are smaller), {machine_cores} cores "
          f"would carry at most {budget:.0f} / ({compute_us:.0f} + {path_us:.0f} + "
          f"{client_us:.0f}) = {budget / (compute_us + path_us + client_us):.0f} requests/s "
          f"with the load generator on them: **{ceiling * 100:.0f}%** of the in-process "
          f"{in_rate:.0f} items/s is the ceiling on this machine. With the load generator on "
          f"another machine it would be {min(ceiling_alone, 1) * 100:.0f}%.")

p("\n### 4. Per-request overhead: trivial model (add_sub) at concurrency 1 vs bare gRPC echo\n")
add = median_step("add_sub_c1")
echo_bytes, echo_kserve = [], []
for path in sorted(glob.glob(os.path.join(OUT, "grpc_echo_r*.json"))):
    with open(path) as f:
        for b in json.load(f).get("benchmarks", []):
            if b["name"].startswith("BM_GrpcEcho/bytes"):
                echo_bytes.append(b["p50_us"])
            elif b["name"].startswith("BM_GrpcEcho/kserve"):
                echo_kserve.append(b["p50_us"])
if add and echo_bytes:
    eb = statistics.median(echo_bytes)
    p("| round trip, concurrency 1 | p50 us (median of rounds) |")
    p("|---|---:|")
    p(f"| gridserve add_sub ModelInfer (gridserve-perf) | {add['p50_us']:.0f} |")
    p(f"| bare gRPC echo of the same request bytes (callback generic service) | {eb:.0f} |")
    if echo_kserve:
        p(f"| KServe ModelInfer echo: gRPC + protobuf, no model | "
          f"{statistics.median(echo_kserve):.0f} |")
    p(f"\nPer-request overhead of gridserve over a bare gRPC round trip: "
      f"**{add['p50_us'] - eb:.0f} us** at p50"
      + (f" ({add['p50_us'] - statistics.median(echo_kserve):.0f} us over the KServe echo that "
         f"parses and answers the same messages)" if echo_kserve else "")
      + f". gridserve's own view of those requests: queue {add['server_queue_us'] or 0:.0f} us, "
      f"compute input/infer/output {add['server_compute_input_us'] or 0:.0f}/"
      f"{add['server_compute_infer_us'] or 0:.0f}/{add['server_compute_output_us'] or 0:.0f} us.")

p("\n### 5. Concurrency up to 512, no queue limit\n")
p("| model | concurrency | infer/s | p50 ms | p99 ms | failed | avg batch | server CPU, cores |")
p("|---|---:|---:|---:|---:|---:|---:|---:|")
sweep_ok = True
for model, prefix in (("linear4_dyn", "batching_on"), ("linear4_dyn_1i", "batching_1i_on")):
    base = median_step(f"{prefix}_c128")
    rows_s = [("128 (step 1, median)", base, f"{prefix}_c128")]
    rows_s += [(str(c), step(f"sweep_{model}_c{c}"), f"sweep_{model}_c{c}") for c in (256, 512)]
    for label, s_, name in rows_s:
        if not s_:
            continue
        p(f"| {model} | {label} | {s_['throughput_infer_per_s']:.0f} | {ms(s_['p50_us'])} | "
          f"{ms(s_['p99_us'])} | {failed(s_)} | {s_['server_avg_batch'] or 0:.1f} | "
          f"{cores(server_cores(name))} |")
    top = step(f"sweep_{model}_c512")
    if base and top:
        sweep_ok = sweep_ok and failed(top) == 0 and (
            top["throughput_infer_per_s"] >= 0.8 * base["throughput_infer_per_s"])
if step("sweep_linear4_dyn_c512"):
    targets.append(("No collapse to c=512 without a queue limit: zero failures, throughput at "
                    "c=512 >= 80% of c=128", "see section 5", sweep_ok))

p("\n### 6. Overload: linear4 with max_queue_size 64, concurrency up to 512\n")
p("| concurrency | admitted infer/s | p50 ms | p99 ms (admitted) | refused (RESOURCE_EXHAUSTED) "
  "| other errors | avg batch | server queue ms / request | server compute_infer ms / batch "
  "| server CPU, cores | load generator CPU, cores |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
rows = [(str(c), f"overload_c{c}") for c in (64, 128, 256, 512)]
rows += [("512, clients back off 10 ms after a refusal", "overload_c512_backoff"),
         ("512 again", "overload_c512_again")]
over = {}
for label, name in rows:
    s = step(name)
    if not s:
        continue
    over[name] = s
    p(f"| {label} | {s['throughput_infer_per_s']:.0f} | {ms(s['p50_us'])} | {ms(s['p99_us'])} | "
      f"{s['refused']} | {s['errors']} | {s['server_avg_batch'] or 0:.1f} | "
      f"{ms(s['server_queue_us'] or 0)} | {ms(s['server_compute_infer_us'] or 0)} | "
      f"{cores(server_cores(name))} | {cores(s.get('client_cpu_cores'))} |")
rss = load("overload_rss")
after = step("after_overload_c1")
if rss:
    growth = (rss["rss_after_again_kib"] - rss["rss_before_kib"]) / 1024
    p(f"\nServer RSS (VmRSS): {rss['rss_before_kib'] / 1024:.0f} MiB before the overload steps, "
      f"{rss['rss_after_kib'] / 1024:.0f} MiB after them, "
      f"{rss['rss_after_again_kib'] / 1024:.0f} MiB after one more 512-client step; server alive "
      f"afterwards: {rss['server_alive']}"
      + (f"; add_sub at concurrency 1 right after: {after['ok']} ok, "
         f"{after['errors'] + after['refused']} failed" if after else "") + ".")
    o128, o512 = over.get("overload_c128"), over.get("overload_c512")
    only_refusals = all(s["errors"] == 0 for s in over.values()) and any(
        s["refused"] > 0 for s in over.values())
    if o128 and o512:
        bounded = o512["p99_us"] <= 2 * o128["p99_us"]
        ok = only_refusals and rss["server_alive"] == "yes" and growth < 64 and bounded
        targets.append(("c=512, max_queue_size 64: excess refused with RESOURCE_EXHAUSTED only, "
                        "no crash, RSS flat (< 64 MiB growth), admitted p99 bounded (c=512 <= 2x "
                        "c=128)",
                        f"{o512['refused']} refused at c=512, other errors "
                        f"{sum(s['errors'] for s in over.values())}, RSS {growth:+.0f} MiB, "
                        f"p99 {ms(o512['p99_us'])} ms vs {ms(o128['p99_us'])} ms at c=128; server "
                        f"queue {ms(o512['server_queue_us'] or 0)} vs "
                        f"{ms(o128['server_queue_us'] or 0)} ms per request; server CPU "
                        f"{cores(server_cores('overload_c512'))} vs "
                        f"{cores(server_cores('overload_c128'))} cores, load generator "
                        f"{cores(o512.get('client_cpu_cores'))} vs "
                        f"{cores(o128.get('client_cpu_cores'))} cores", ok))

p("\n### 7. Cost of the metrics path\n")
mon, moff = median_step("metrics_on"), median_step("metrics_off")
obs = load("metrics_observer")
r = paired_ratio(mon["throughput_all"], moff["throughput_all"]) if mon and moff else None
if r is not None:
    p(f"{best_model} at concurrency {best_c} on two fresh servers, one with metrics (scraped "
      f"every second during its steps) and one with `--allow-metrics=false`, alternating (the "
      f"order swapped every round):\n")
    p("| server | infer/s (rounds) | p99 ms | server CPU, cores |")
    p("|---|---:|---:|---:|")
    p(f"| metrics on | {mon['throughput_infer_per_s']:.0f} ({spread(mon)}) | {ms(mon['p99_us'])} "
      f"| {cores(server_cores('metrics_on'))} |")
    p(f"| `--allow-metrics=false` | {moff['throughput_infer_per_s']:.0f} ({spread(moff)}) | "
      f"{ms(moff['p99_us'])} | {cores(server_cores('metrics_off'))} |")
    p(f"\nOn / off, per round, median: **{r:.3f}** (spread of the rounds: "
      f"{'/'.join(f'{a / b:.3f}' for a, b in zip(mon['throughput_all'], moff['throughput_all']))})"
      f".")
    us_on = server_us_per_request("metrics_on", mon)
    us_off = server_us_per_request("metrics_off", moff)
    if us_on and us_off:
        p(f"Server CPU per request (less sensitive to the other sessions than throughput): "
          f"{us_on:.1f} us with metrics, {us_off:.1f} us without ({100 * (us_on / us_off - 1):+.1f}%).")
    if obs:
        per = {b["name"]: b for b in obs.get("benchmarks", [])}
        one = per.get("BM_MetricsPerRequest/triton_names:0/real_time/threads:1")
        two = per.get("BM_MetricsPerRequest/triton_names:0/real_time/threads:2")
        tri = per.get("BM_MetricsPerRequest/triton_names:1/real_time/threads:2")
        if one and two and us_on:
            cpu_ns_per_request = us_on * 1e3
            # CPU ns per request with two threads contending: 2 threads' CPU seconds over the
            # requests both did (Google Benchmark sums CPU time over threads).
            worst = 2e9 / two["items_per_second"]
            p(f"\nThe observer alone (`bench_metrics_observer`): {1e9 / one['items_per_second']:.0f} ns of CPU "
              f"per request from one thread, {worst:.0f} ns with two threads updating the same "
              f"model version at full speed"
              + (f" ({2e9 / tri['items_per_second']:.0f} ns with Triton's names too)" if tri else "")
              + f"; gridserve spent {cpu_ns_per_request / 1000:.0f} us of CPU per request in this "
              f"step, so the metrics path is {100 * worst / cpu_ns_per_request:.2f}% of it.")
            targets.append(("Metrics path costs < 2% of throughput",
                            f"on/off {r:.3f} (noise of the 2-core box); observer "
                            f"{100 * worst / cpu_ns_per_request:.2f}% of server CPU per request",
                            worst / cpu_ns_per_request < 0.02 and r >= 0.95))

p("\n### Targets (issues 3 and 4)\n")
p("| target | measured | |")
p("|---|---|---|")
for name, measured, ok in targets:
    p(f"| {name} | {measured} | {'met' if ok else '**missed**'} |")

print("\n".join(lines))
