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


__all__ = ["format_count", "markdown_table"]
