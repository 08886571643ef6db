"""Plot per-question constraint step time against the number of paths (PNG drawn with PIL, no matplotlib).

Usage: python bench/plot_decoding.py BENCH.json [BENCH2.json ...] OUT.png
(each BENCH.json from ``kgr bench trie --per-question --json``; their questions are pooled)
"""

from __future__ import annotations

import json
import math
import sys

from PIL import Image, ImageDraw

COLOURS = {"lazy": (31, 119, 180), "materialized": (44, 160, 44), "gcr": (214, 39, 40)}
W, H, LEFT, RIGHT, TOP, BOTTOM = 900, 560, 80, 170, 40, 60


def main(sources: list[str], out: str) -> None:
    rows = []
    for src in sources:
        with open(src, encoding="utf-8") as fh:
            rows += [r for r in json.load(fh)["per_question"] if r.get("paths")]
    xs = [math.log10(r["paths"]) for r in rows]
    ys = {s: [math.log10(max(r[f"{s}_step_us"], 0.1)) for r in rows] for s in COLOURS}
    x_lo, x_hi = 0.0, math.ceil(max(xs))
    y_lo = math.floor(min(min(v) for v in ys.values()))
    y_hi = math.ceil(max(max(v) for v in ys.values()))
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)

    def px(x: float, y: float) -> tuple[float, float]:
        fx = LEFT + (x - x_lo) / (x_hi - x_lo) * (W - LEFT - RIGHT)
        fy = H - BOTTOM - (y - y_lo) / (y_hi - y_lo) * (H - TOP - BOTTOM)
        return fx, fy

    d.rectangle([LEFT, TOP, W - RIGHT, H - BOTTOM], outline="black")
    for k in range(int(x_lo), int(x_hi) + 1):
        x, _ = px(k, y_lo)
        d.line([x, H - BOTTOM, x, H - BOTTOM + 5], fill="black")
        d.text((x - 12, H - BOTTOM + 8), f"1e{k}", fill="black")
    for k in range(y_lo, y_hi + 1):
        _, y = px(x_lo, k)
        d.line([LEFT - 5, y, LEFT, y], fill="black")
        d.line([LEFT, y, W - RIGHT, y], fill=(225, 225, 225))
        d.text((LEFT - 55, y - 6), f"{10.0**k:g} us", fill="black")
    d.text((LEFT + 150, H - 25), "paths from the topic entity within H hops (log scale)", fill="black")
    d.text((LEFT, 12), "allowed-token step time per beam, mean per question (log scale)", fill="black")
    for i, (name, colour) in enumerate(COLOURS.items()):
        for x, y in zip(xs, ys[name], strict=True):
            cx, cy = px(x, y)
            d.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=colour)
        d.ellipse([W - RIGHT + 15, TOP + 20 * i + 4, W - RIGHT + 23, TOP + 20 * i + 12], fill=colour)
        d.text((W - RIGHT + 30, TOP + 20 * i + 2), name, fill="black")
    img.save(out)


if __name__ == "__main__":
    main(sys.argv[1:-1], sys.argv[-1])
