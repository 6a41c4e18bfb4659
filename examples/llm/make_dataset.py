"""Write the sealed support-bot eval set and the loopback model's answers.

``python examples/llm/make_dataset.py``; run once, the files are committed and
the dataset sealed with ``pytest --prodgate-lock``. Each case asks one
arithmetic question; ``evals/answers.json`` is what the loopback "model"
answers (right for all but a few questions, so accuracy is not a trivial 100%).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CASES = 120
WRONG = 5  # questions the model answers wrongly


def main() -> None:
    rng = random.Random(20261202)
    here = Path(__file__).parent / "evals"
    here.mkdir(exist_ok=True)
    lines, answers = [], {}
    wrong = set(rng.sample(range(CASES), WRONG))
    for i in range(CASES):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        op = "add" if i % 2 == 0 else "mul"
        question = f"What is {a} {'plus' if op == 'add' else 'times'} {b}?"
        value = a + b if op == "add" else a * b
        lines.append(
            json.dumps(
                {"id": f"q{i:03d}", "input": question, "expected": str(value), "tags": [f"op:{op}"]}
            )
        )
        said = value + 1 if i in wrong else value
        answers[question] = f"The answer is {said}."
    (here / "support.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (here / "answers.json").write_text(json.dumps(answers, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {CASES} cases ({WRONG} answered wrongly) to {here}")


if __name__ == "__main__":
    main()
