"""bench/plot_compile.py: the SVG of compile_ms against the encoder's layer
count for bench_compile.sh (standard library only: no plotting package)."""


def svg(points, width=520, height=320):
    """points: (layers, cold_row, warm_row, old_row) per layer count, rows with
    compile_ms or None. Returns the SVG text: one line per series."""
    series = [("cold", 1, "#c0392b"), ("warm", 2, "#2980b9"), ("old cold", 3, "#7f8c8d")]
    xs = [p[0] for p in points] or [1]
    ys = [p[i]["compile_ms"] for p in points for _, i, _ in series if p[i]] or [1]
    x0, x1, y1 = 60, width - 20, max(ys) * 1.1
    top, bottom = 20, height - 40
    sx = lambda x: x0 + (x - min(xs)) / max(1, max(xs) - min(xs)) * (x1 - x0)
    sy = lambda y: bottom - y / y1 * (bottom - top)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           f'<line x1="{x0}" y1="{bottom}" x2="{x1}" y2="{bottom}" stroke="black"/>',
           f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{bottom}" stroke="black"/>',
           f'<text x="{(x0 + x1) / 2}" y="{height - 8}" text-anchor="middle">encoder layers</text>',
           f'<text x="12" y="{top - 6}">compile ms</text>']
    for x in xs:
        out.append(f'<text x="{sx(x)}" y="{bottom + 14}" text-anchor="middle">{x}</text>')
    for k in range(5):
        y = y1 * k / 4
        out.append(f'<text x="{x0 - 4}" y="{sy(y) + 4}" text-anchor="end">{y:.0f}</text>')
    for n, (name, i, color) in enumerate(series):
        pts = [(sx(p[0]), sy(p[i]["compile_ms"])) for p in points if p[i]]
        if not pts:
            continue
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' %
                   (color, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
        out.append(f'<text x="{x1 - 80}" y="{top + 14 * (n + 1)}" fill="{color}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
