#!/usr/bin/python3
"""Day-ahead demand forecasts from gridserve's grid_load_forecast, plotted against what happened.

Reads a CSV of half-hourly demand (MW), one row per half-hour, oldest first: a column of numbers
(`--column`, default the last column) and optionally a timestamp column (`--time-column`, ISO 8601)
for the plot's axis. For each of the last `--days` days in the file it sends the 7 days before that
day's midnight (336 values) to the model, which answers the next 24 hours (48 values): a rolling
day-ahead backtest. It prints the MAPE of each day and overall, and plots forecast vs actual to a
PNG. With `--next-day` it instead forecasts the day after the file ends (no actuals to compare).

    examples/forecast_day_ahead.py --csv models/.cache/grid_load_forecast/taylor.csv --days 14 \
        --start 2000-06-05T00:00 --out forecast.png

Exit codes: 0 done; 1 the server failed a call (the gRPC code and message are printed); 2 bad
arguments or a CSV the model cannot use.
"""
import argparse
import csv
import datetime
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

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

HISTORY, HORIZON = 336, 48  # half-hours: 7 days in, 1 day out
HALF_HOUR = datetime.timedelta(minutes=30)


def read_demand(path, column, time_column):
    """(values float32 [n], timestamps list or None) from the CSV."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ValueError("%s: no data rows" % path)
    header = rows[0]
    col = len(header) - 1 if column is None else _column_index(header, column, path)
    tcol = None if time_column is None else _column_index(header, time_column, path)
    values, times = [], []
    for line, row in enumerate(rows[1:], start=2):
        try:
            values.append(float(row[col]))
        except (IndexError, ValueError):
            raise ValueError("%s line %d: no number in column '%s'" % (path, line, header[col]))
        if tcol is not None:
            times.append(datetime.datetime.fromisoformat(row[tcol]))
    x = np.asarray(values, dtype=np.float32)
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("%s: demand must be positive finite MW values" % path)
    return x, (times or None)


def _column_index(header, name, path):
    if name not in header:
        raise ValueError("%s: no column '%s' (columns: %s)" % (path, name, ", ".join(header)))
    return header.index(name)


def mape(forecast, actual):
    return float(100.0 * np.mean(np.abs(forecast - actual) / np.abs(actual)))


def forecast(client, histories, version=None):
    """[days, 48] MW for [days, 336] histories, in batches the model accepts."""
    out = []
    for i in range(0, len(histories), 64):  # grid_load_forecast's max_batch_size
        result = client.infer("grid_load_forecast", {"history": histories[i:i + 64]},
                              version=version)
        out.append(result["forecast"])
    return np.concatenate(out)


def plot(path, t_hist, hist, t_fc, fc, actual, title):
    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=100)
    ax.plot(t_hist, hist, color="#9e9e9e", linewidth=1.0, label="history (model input)")
    if actual is not None:
        ax.plot(t_fc, actual, color="#1f77b4", linewidth=1.6, label="actual")
    ax.plot(t_fc, fc, color="#d62728", linewidth=1.6, linestyle="--", label="day-ahead forecast")
    if actual is not None:
        ax.fill_between(t_fc, actual, fc, color="#ff7f0e", alpha=0.35, label="error")
    ax.set_ylabel("demand (MW)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", ncol=4, fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--csv", required=True, help="half-hourly demand CSV (MW), oldest first")
    p.add_argument("--column", help="demand column (default: the last column)")
    p.add_argument("--time-column", help="ISO 8601 timestamp column, for the plot's axis")
    p.add_argument("--start", help="timestamp of the first row when the CSV has none "
                   "(e.g. 2000-06-05T00:00); default: axis in days from the first row")
    p.add_argument("--days", type=int, default=1, help="backtest the last N days (default 1)")
    p.add_argument("--next-day", action="store_true",
                   help="forecast the day after the data ends instead of a backtest")
    p.add_argument("--url", default="localhost:8001", help="gridserve gRPC address")
    p.add_argument("--version", help="model version (default: the server's policy)")
    p.add_argument("--out", default="forecast_day_ahead.png", help="PNG to write")
    args = p.parse_args()

    try:
        x, times = read_demand(args.csv, args.column, args.time_column)
    except (OSError, ValueError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    n = len(x)
    if times is None:
        if args.start:
            t0 = datetime.datetime.fromisoformat(args.start)
            times = [t0 + i * HALF_HOUR for i in range(n + HORIZON)]
        else:
            times = list(np.arange(n + HORIZON) / 48.0)  # days
    elif args.next_day:
        times = times + [times[-1] + (i + 1) * HALF_HOUR for i in range(HORIZON)]

    if args.next_day:
        origins = [n]
    else:
        if args.days < 1:
            print("error: --days must be at least 1", file=sys.stderr)
            return 2
        first = n - args.days * HORIZON
        if first < HISTORY:
            print("error: %d rows cannot backtest %d days: each needs %d rows of history"
                  % (n, args.days, HISTORY), file=sys.stderr)
            return 2
        origins = [first + d * HORIZON for d in range(args.days)]

    histories = np.stack([x[o - HISTORY:o] for o in origins])
    try:
        with gridserve.Client(args.url, timeout=60) as client:
            fc = forecast(client, histories, args.version)
    except gridserve.GridserveError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1

    fc_flat = fc.reshape(-1)
    lo, hi = origins[0], origins[-1] + HORIZON
    t_hist = times[origins[0] - HISTORY:origins[0]]
    t_fc = times[lo:hi]
    if args.next_day:
        print("next-day forecast (MW): min %.0f, max %.0f, mean %.0f"
              % (fc_flat.min(), fc_flat.max(), fc_flat.mean()))
        plot(args.out, t_hist, x[origins[0] - HISTORY:origins[0]], t_fc, fc_flat, None,
             "grid_load_forecast: the next 24 h")
    else:
        actual = x[lo:hi]
        for d, o in enumerate(origins):
            label = times[o].strftime("%Y-%m-%d") if isinstance(times[o], datetime.datetime) \
                else "day %.0f" % times[o]
            print("%s  MAPE %.3f%%" % (label, mape(fc[d], x[o:o + HORIZON])))
        total = mape(fc_flat, actual)
        print("MAPE over %d day(s): %.3f%%" % (len(origins), total))
        plot(args.out, t_hist, x[origins[0] - HISTORY:origins[0]], t_fc, fc_flat, actual,
             "grid_load_forecast: rolling day-ahead forecasts, %d day(s), MAPE %.2f%%"
             % (len(origins), total))
    print("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
