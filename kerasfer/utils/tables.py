"""Formatting counts and model rows for tables (imports no Keras)."""


def format_count(n: int) -> str:
    """Formats 2676147 as '2.676M' and 397180000 as '397.2M'."""
    if n >= 1e9:
        return f"{n / 1e9:.2f}G"
    if n >= 1e6:
        return f"{n / 1e6:.3f}M" if n < 1e8 else f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return str(n)


def markdown_table(rows) -> str:
    """Formats `model_table` rows as a Markdown table."""
    lines = ["| model | input | params | MACs |", "|---|---|---:|---:|"]
    for r in rows:
        h, w, c = r["input_shape"]
        macs = format_count(r["macs"]) if r["macs"] is not None else "-"
        lines.append(f"| `{r['name']}` | {h}x{w}x{c} | {r['params']:,} | {macs} |")
    return "\n".join(lines)


def weights_table(rows) -> str:
    """Formats `kerasfer.model_catalog.packaged_weights_rows` as a Markdown table."""

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    lines = [
        "| weights | evaluated on | input | params | accuracy | mean class acc. | size |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        shape = "x".join(str(d) for d in r["input_shape"]) if r["input_shape"] else "-"
        data = f"{r['dataset']} ({r['split']}, {r['num_examples']:,})" if r["dataset"] else "-"
        params = f"{r['params']:,}" if r["params"] is not None else "-"
        size = f"{r['size_bytes'] / 1e6:.2f} MB" if r["size_bytes"] else "-"
        lines.append(
            f"| `{r['weights']}` | {data} | {shape} | {params} | {pct(r['accuracy'])} | "
            f"{pct(r['mean_class_accuracy'])} | {size} |"
        )
    return "\n".join(lines)


__all__ = ["format_count", "markdown_table", "weights_table"]
