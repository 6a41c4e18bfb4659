"""Write the sealed held-out set as JSONL: ``python examples/digits/make_dataset.py``.

Run once; the file is committed and sealed with ``pytest --prodgate-lock``.
Each case is tagged with its digit (``digit:7``) and an ink-density slice.
"""

from __future__ import annotations

import json
from pathlib import Path

from model import split


def main() -> None:
    _, x_hold, _, y_hold = split()
    out = Path(__file__).with_name("evals") / "digits_holdout.jsonl"
    out.parent.mkdir(exist_ok=True)
    lines = []
    for i, (x, y) in enumerate(zip(x_hold, y_hold, strict=True)):
        ink = "ink:heavy" if x.sum() > 313 else "ink:light"
        record = {
            "id": f"d{i:03d}",
            "input": [int(v) for v in x],
            "expected": int(y),
            "tags": [f"digit:{int(y)}", ink],
        }
        lines.append(json.dumps(record, separators=(",", ":")))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} cases to {out}")


if __name__ == "__main__":
    main()
