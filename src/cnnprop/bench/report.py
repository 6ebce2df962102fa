"""The benchmark's table, JSON and plot."""
import json
import math
from dataclasses import asdict

__all__ = ["table", "write_json", "plot"]

PEER_ORDER = ("torch", "numpy", "cnnprop direct")


def _fmt(x, spec):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _keys(results):
    seen = []
    for r in results.records:
        key = (r.dtype, r.layer, r.direction)
        if key not in seen:
            seen.append(key)
    return seen


def speedups(results):
    """{(dtype, layer, direction): {peer: peer_ms / cnnprop_ms}}: above 1, cnnprop is faster."""
    out = {}
    for key in _keys(results):
        ours = results.get(key[1], key[2], key[0], "cnnprop")
        out[key] = {}
        for peer in PEER_ORDER:
            theirs = results.get(key[1], key[2], key[0], peer)
            if ours is not None and theirs is not None:
                out[key][peer] = theirs.ms / ours.ms
    return out


def _range(record):
    """The slowest and fastest of the repeats, "min-max" in ms."""
    if record is None or math.isnan(record.ms_min):
        return "-"
    return f"{record.ms_min:.2f}-{record.ms_max:.2f}"


def table(results):
    """A text table: one line per layer, direction and dtype.

    "cnnprop ms" is the median of the repeats and "min-max" their range:
    a wide range says the machine was not quiet.
    """
    peers = [p for p in PEER_ORDER if any(r.impl == p for r in results.records)]
    head = (f"{'dtype':8} {'layer':10} {'direction':12} {'cnnprop ms':>10} {'min-max':>13} {'rate':>12} {'%GEMM':>6} "
            + " ".join(f"{p + ' ms':>12}" for p in peers)
            + " " + " ".join(f"{'vs ' + p:>10}" for p in peers) + f" {'peak MB':>8}")
    lines = [head, "-" * len(head)]
    ratios = speedups(results)
    for key in _keys(results):
        dtype, layer, direction = key
        ours = results.get(layer, direction, dtype, "cnnprop")
        rate = (f"{ours.gflops:7.1f} GF/s" if not math.isnan(ours.gflops) else f"{ours.gbps:7.2f} GB/s")
        cells = [f"{dtype:8} {layer:10} {direction:12} {ours.ms:10.2f} {_range(ours):>13} {rate:>12} "
                 f"{_fmt(ours.pct_gemm, '6.0f'):>6}"]
        for peer in peers:
            other = results.get(layer, direction, dtype, peer)
            cells.append(f"{_fmt(other.ms if other else None, '12.2f'):>12}")
        for peer in peers:
            ratio = ratios[key].get(peer)
            cells.append(f"{_fmt(ratio, '9.2f') + 'x' if ratio else '-':>10}")
        cells.append(f"{_fmt(ours.peak_mb, '8.1f'):>8}")
        lines.append(" ".join(cells))
    return "\n".join(lines)


def write_json(results, path):
    """Every measurement as JSON: times in ms (``ms`` the median; ``ms_min``,
    ``ms_q1``, ``ms_q3``, ``ms_max`` the spread of the repeats), the GEMM
    rates before and after the layers and the machine's stored best."""
    data = {"threads": results.threads, "repeats": results.repeats, "gemm_gflops": results.gemm,
            "gemm_gflops_end": results.gemm_end, "gemm_gflops_reference": results.gemm_reference,
            "warnings": results.warnings, "machine": results.machine, "notes": results.notes,
            "records": [asdict(r) for r in results.records]}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x)
        fh.write("\n")


def plot(results, path):
    """Bar chart of cnnprop's speed-up over each peer (log scale), one panel a dtype.

    Returns False (with nothing written) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ratios = speedups(results)
    dtypes = sorted({k[0] for k in ratios}, reverse=True)
    peers = [p for p in PEER_ORDER if any(p in v for v in ratios.values())]
    fig, axes = plt.subplots(len(dtypes), 1, figsize=(13, 4.2 * len(dtypes)), squeeze=False)
    for ax, dtype in zip(axes[:, 0], dtypes):
        keys = [k for k in ratios if k[0] == dtype]
        width = 0.8 / max(1, len(peers))
        for i, peer in enumerate(peers):
            values = [ratios[k].get(peer, float("nan")) for k in keys]
            xs = [j + (i - (len(peers) - 1) / 2) * width for j in range(len(keys))]
            ax.bar(xs, values, width, label=f"cnnprop vs {peer}")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([f"{k[1]}\n{k[2]}" for k in keys], fontsize=8)
        ax.set_ylabel("speed-up (peer time / cnnprop time)")
        ax.set_title(f"{dtype}, {results.threads} threads, medians of {results.repeats}: above 1, cnnprop is faster")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
