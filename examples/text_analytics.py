#!/usr/bin/python3
"""Sentiment and summaries over a file of customer messages, through gridserve's `sentiment` and
`summarizer` models.

Messages come from a .txt file (messages separated by blank lines; the lines of one message are
joined with spaces) or a .csv file (`--column`, default "text"). Each message gets P(positive)
from `sentiment` and a `--sentences`-sentence extractive summary from `summarizer`. A batch the
server refuses is retried message by message, so one bad message costs only its own row (its
error goes in the CSV). Writes a CSV (id, sentiment, p_positive, summary, error), prints the
counts and the most negative messages, and plots the distribution of P(positive) to a PNG.

    examples/text_analytics.py --messages messages.txt --out-csv sentiment.csv

Exit codes: 0 done; 1 the server failed a call for another reason than a bad message; 2 bad
arguments or no message.
"""
import argparse
import csv
import os
import sys

import numpy as np

try:
    import gridserve
except ImportError:  # run from a source checkout: use the package the build assembled
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                    "client", "python"))
    import gridserve

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SENTIMENT_BATCH, SUMMARY_BATCH = 64, 16  # the models' max_batch_size


def read_messages(path, column):
    if path.lower().endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if column not in (reader.fieldnames or []):
                raise ValueError("%s: no column '%s'" % (path, column))
            return [row[column].strip() for row in reader if row[column].strip()]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    messages, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            messages.append(" ".join(current))
            current = []
    if current:
        messages.append(" ".join(current))
    return messages


def run_batched(call, messages, batch):
    """[(value, error)] per message: `call` on batches, a refused batch retried one by one."""
    out = []
    for i in range(0, len(messages), batch):
        chunk = messages[i:i + batch]
        try:
            out.extend((v, None) for v in call(chunk))
            continue
        except gridserve.GridserveError as e:
            if e.code.name != "INVALID_ARGUMENT":
                raise
            if len(chunk) == 1:
                out.append((None, e.message))
                continue
        for m in chunk:
            try:
                out.append((call([m])[0], None))
            except gridserve.GridserveError as e:
                if e.code.name != "INVALID_ARGUMENT":
                    raise
                out.append((None, e.message))
    return out


def text_tensor(messages):
    return np.array([[m.encode("utf-8")] for m in messages], dtype=object)  # [B, 1] BYTES


def sentiment(client, messages):
    def call(chunk):
        probs = client.infer("sentiment", {"text": text_tensor(chunk)})["probabilities"]
        return [float(p[1]) for p in probs]  # labels.txt: negative, positive
    return run_batched(call, messages, SENTIMENT_BATCH)


def summaries(client, messages, sentences):
    def call(chunk):
        k = np.full((len(chunk), 1), sentences, dtype=np.int32)
        out = client.infer("summarizer", {"text": text_tensor(chunk), "max_sentences": k})
        return [s[0].decode("utf-8", errors="replace") for s in out["summary"]]
    return run_batched(call, messages, SUMMARY_BATCH)


def plot(path, p_positive, threshold):
    scores = np.array([p for p in p_positive if p is not None])
    fig, (hist, bars) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100,
                                     gridspec_kw={"width_ratios": [3, 1]})
    bins = np.linspace(0, 1, 21)
    hist.hist(scores[scores < threshold], bins=bins, color="#d62728", label="negative")
    hist.hist(scores[scores >= threshold], bins=bins, color="#2ca02c", label="positive")
    hist.axvline(threshold, color="#333333", linestyle="--", linewidth=1)
    hist.set_xlabel("P(positive)")
    hist.set_ylabel("messages")
    hist.set_title("sentiment of %d customer messages" % len(scores))
    hist.legend()
    hist.grid(True, alpha=0.3)
    counts = [int(np.sum(scores < threshold)), int(np.sum(scores >= threshold))]
    bars.bar(["negative", "positive"], counts, color=["#d62728", "#2ca02c"])
    failed = len(p_positive) - len(scores)
    if failed:
        bars.bar(["refused"], [failed], color="#7f7f7f")
    bars.set_title("messages")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", required=True, help=".txt (blank-line separated) or .csv")
    p.add_argument("--column", default="text", help="text column of a .csv (default text)")
    p.add_argument("--url", default="localhost:8001", help="gridserve gRPC address")
    p.add_argument("--sentences", type=int, default=1, help="sentences per summary (default 1)")
    p.add_argument("--threshold", type=float, default=0.5, help="P(positive) for 'positive'")
    p.add_argument("--out-csv", default="text_analytics.csv")
    p.add_argument("--out-png", default="text_analytics.png")
    args = p.parse_args()
    try:
        messages = read_messages(args.messages, args.column)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    if not messages:
        print("error: no message in %s" % args.messages, file=sys.stderr)
        return 2
    try:
        with gridserve.Client(args.url, timeout=120) as client:
            moods = sentiment(client, messages)
            summary = summaries(client, messages, args.sentences)
    except gridserve.GridserveError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1

    with open(args.out_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "sentiment", "p_positive", "summary", "error"])
        for i, ((pp, e1), (s, e2)) in enumerate(zip(moods, summary)):
            label = "" if pp is None else ("positive" if pp >= args.threshold else "negative")
            w.writerow([i, label, "" if pp is None else "%.4f" % pp, s or "",
                        "; ".join(e for e in (e1, e2) if e)])
    scored = [(pp, i) for i, (pp, _) in enumerate(moods) if pp is not None]
    positive = sum(1 for pp, _ in scored if pp >= args.threshold)
    print("%d messages: %d positive, %d negative, %d refused"
          % (len(messages), positive, len(scored) - positive, len(messages) - len(scored)))
    print("most negative:")
    for pp, i in sorted(scored)[:3]:
        text = summary[i][0] or messages[i]
        print("  #%d P(positive)=%.3f: %s" % (i, pp, text if len(text) <= 160 else
                                              text[:157] + "..."))
    plot(args.out_png, [pp for pp, _ in moods], args.threshold)
    print("wrote %s and %s" % (args.out_csv, args.out_png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
