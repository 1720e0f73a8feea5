"""bench/plot.py: the PNG beside every bench script's table, one helper for all.

A report builds one panel per table (bars: a group per workload, a bar per
runner; lines: a line per runner over a length or a layer count) and calls
save(png, title, panels). The figure shows what the table shows, seqc always
first and in the same colour, so the plots of different scripts read alike.
Debian's python3-matplotlib draws it (bench/peers/setup.sh installs it); without
it the report still prints its table and says there is no plot.
"""
import math

# seqc first, then the peers in a fixed order of colours: a runner keeps its
# colour across panels of one figure
COLOURS = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#f39c12", "#7f8c8d", "#16a085",
           "#d35400"]


def bars(title, ylabel, groups, note=None):
    """A bar panel. groups: [(label, {runner: value or None})]; a missing or
    None value leaves a gap (a run that failed). note: a line under the axes."""
    return dict(kind="bars", title=title, ylabel=ylabel, groups=groups, note=note)


def lines(title, xlabel, ylabel, series, logx=False, logy=False, note=None):
    """A line panel. series: {runner: [(x, y), ...]}."""
    return dict(kind="lines", title=title, xlabel=xlabel, ylabel=ylabel, series=series,
                logx=logx, logy=logy, note=note)


def _runners(panels):
    """Every runner named in the panels, seqc's first, in order of appearance."""
    names = {}  # a dict keeps the first appearance's order, once per name
    for p in panels:
        found = ([k for _, vals in p["groups"] for k in vals] if p["kind"] == "bars"
                 else list(p["series"]))
        names.update(dict.fromkeys(found))
    return sorted(names, key=lambda n: not n.startswith("seqc"))


def _has_data(p):
    """Whether panel P has one value to draw (every run of it may have failed)."""
    if p["kind"] == "bars":
        return any(v is not None for _, vals in p["groups"] for v in vals.values())
    return any(y is not None for pts in p["series"].values() for _, y in pts)


def _wide(values):
    """Whether values span enough (over 30x) that a linear axis would hide the small ones."""
    vals = [v for v in values if v and v > 0]
    return len(vals) > 1 and max(vals) / min(vals) > 30


def _draw_bars(ax, p, colour):
    runners = [r for r in colour if any(r in vals for _, vals in p["groups"])]
    width = 0.8 / max(1, len(runners))
    for i, r in enumerate(runners):
        xs = [g + (i - (len(runners) - 1) / 2) * width for g in range(len(p["groups"]))]
        ys = [vals.get(r) for _, vals in p["groups"]]
        ax.bar([x for x, y in zip(xs, ys) if y is not None], [y for y in ys if y is not None],
               width, label=r, color=colour[r])
    ax.set_xticks(range(len(p["groups"])))
    many = len(p["groups"]) > 8
    ax.set_xticklabels([label for label, _ in p["groups"]], rotation=50 if many else 20,
                       ha="right", fontsize=8 if many else 10)
    if _wide([v for _, vals in p["groups"] for v in vals.values()]):
        ax.set_yscale("log")


def _draw_lines(ax, p, colour):
    for r, pts in p["series"].items():
        pts = sorted(pt for pt in pts if pt[1] is not None)
        if pts:
            ax.plot([x for x, _ in pts], [y for _, y in pts], "o-", label=r, color=colour[r])
    ax.set_xlabel(p["xlabel"])
    if p["logx"]:
        ax.set_xscale("log", base=2)
    # the measured x values as plain numbers, not powers or a linear grid between them
    xs = sorted({x for pts in p["series"].values() for x, y in pts if y is not None})
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
    ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
    if p["logy"]:
        ax.set_yscale("log")


def save(png, title, panels):
    """Draws PANELS side by side into PNG under TITLE; returns a line for the
    report to print (where the plot is, or why there is none)."""
    panels = [p for p in panels if _has_data(p)]
    if not panels:
        return "(no plot: no rows to plot)"
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display: write the file only
        import matplotlib.pyplot as plt
    except ImportError:
        return "(no plot: no matplotlib; apt-get install python3-matplotlib)"
    colour = {r: COLOURS[i % len(COLOURS)] for i, r in enumerate(_runners(panels))}
    # a bar panel widens with its bars so that many models stay readable; wide
    # panels stack one above the other instead of side by side
    bars = max([len(p["groups"]) * len(colour) for p in panels if p["kind"] == "bars"] or [0])
    width = max(5.5, 0.18 * bars)
    cols = 1 if width > 8 else min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 4.8 * rows), squeeze=False)
    for ax, p in zip(axes.flat, panels):
        (_draw_bars if p["kind"] == "bars" else _draw_lines)(ax, p, colour)
        ax.set_title(p["title"], fontsize=10)
        ax.set_ylabel(p["ylabel"])
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        if p.get("note"):
            ax.annotate(p["note"], (0, 0), (0, -52), xycoords="axes fraction",
                        textcoords="offset points", fontsize=7, va="top")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return f"(plot: {png})"
