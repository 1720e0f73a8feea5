"""bench/rows.py: the rows files of the bench_*.sh scripts, for their reports."""
import json


def read_best(path):
    """The rows of the JSON-lines file PATH, and for each "who" its row with the
    lowest median_ms (the best of the REPEATS passes)."""
    rows = [json.loads(l) for l in open(path) if l.strip()]
    best = {}
    for r in rows:
        if r.get("median_ms") is not None and (r["who"] not in best or
                                               r["median_ms"] < best[r["who"]]["median_ms"]):
            best[r["who"]] = r
    return rows, best
