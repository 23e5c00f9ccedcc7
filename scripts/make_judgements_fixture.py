"""Make the small, synthetic judgement fixture in data/judgements_fixture/ from the bundled sample.

Run from the repository root::

    python scripts/make_judgements_fixture.py            # rewrites data/judgements_fixture/
    python scripts/make_judgements_fixture.py --out DIR  # elsewhere

Nothing here comes from the real Flickr8k judgements: the captions are the
bundled sample's (data/sample/, our own synthetic scenes) and the "human"
judgements are made up by a stated rule, so that notebook 09 runs offline with
files in exactly the Flickr8k layout.

The rule. Every sample scene is fully described by five attributes (count,
size, colour, shape, background), readable from its caption number 0
("Two large green circles on a white background."). As in Flickr8k, the judged
captions are the ``#2`` captions (the sample's freely paraphrased ones) of the
first 24 test images; each image is judged against its own ``#2`` caption and
against other images' ``#2`` captions. ``matches`` = how many of the five
attributes the captioned scene shares with the judged image. Then

* each of three "experts" gives 4 for 5 matches, 3 for 4, 2 for 2-3, 1 for 0-1,
  and with probability 0.2 one point more or less (kept within 1-4);
* each of three "crowd workers" says yes with probability (matches / 5) ** 2.

Deterministic: every draw comes from ``random.Random(SEED)``.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_OUT = REPO_ROOT / "data" / "judgements_fixture"
SEED = 9
JUDGED_IMAGES = 24
EXPERT_PAIRS_PER_IMAGE = 4  # its own caption + 3 others
CROWD_PAIRS_PER_IMAGE = 6  # its own caption + 5 others
JUDGED_NUMBER = 2  # Flickr8k judges the "#2" captions
CANONICAL = re.compile(r"^(One|Two|Three) (small|large) (\w+) (circle|square|triangle)s? on an? (\w+) background\.$")


def read_token_file(path: Path) -> dict[str, str]:
    captions = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, caption = line.split("\t", 1)
        captions[key] = caption
    return captions


def attributes(caption: str) -> tuple[str, ...]:
    match = CANONICAL.match(caption)
    if not match:
        raise ValueError(f"not a canonical sample caption: {caption!r}")
    return tuple(part.lower() for part in match.groups())


def expert_score(matches: int, rng: random.Random) -> int:
    score = {5: 4, 4: 3, 3: 2, 2: 2}.get(matches, 1)
    if rng.random() < 0.2:
        score += rng.choice((-1, 1))
    return min(4, max(1, score))


def make_fixture(out: Path, sample_dir: Path = SAMPLE_DIR) -> None:
    rng = random.Random(SEED)
    captions = read_token_file(sample_dir / "Flickr8k.token.txt")
    test_ids = (sample_dir / "Flickr_8k.testImages.txt").read_text(encoding="utf-8").split()[:JUDGED_IMAGES]
    scene = {image_id: attributes(captions[f"{image_id}#0"]) for image_id in test_ids}

    def matches(a: str, b: str) -> int:
        return sum(x == y for x, y in zip(scene[a], scene[b]))

    expert_lines, crowd_lines = [], []
    for image_id in test_ids:
        others = [o for o in test_ids if o != image_id]
        # Others sorted from most to least alike, then a spread of them: near misses and clear misses.
        others.sort(key=lambda o: (-matches(image_id, o), o))
        chosen = rng.sample(others[:6], 3) + rng.sample(others[6:], CROWD_PAIRS_PER_IMAGE - 4)
        judged = [image_id, *chosen]
        for index, source in enumerate(judged):
            caption_id = f"{source}#{JUDGED_NUMBER}"
            alike = matches(image_id, source)
            if index < EXPERT_PAIRS_PER_IMAGE:
                scores = [expert_score(alike, rng) for _ in range(3)]
                expert_lines.append("\t".join([image_id, caption_id, *map(str, scores)]))
            yes = sum(rng.random() < (alike / 5) ** 2 for _ in range(3))
            crowd_lines.append("\t".join([image_id, caption_id, repr(yes / 3), str(yes), str(3 - yes)]))

    out.mkdir(parents=True, exist_ok=True)
    (out / "ExpertAnnotations.txt").write_text("\n".join(expert_lines) + "\n", encoding="utf-8")
    (out / "CrowdFlowerAnnotations.txt").write_text("\n".join(crowd_lines) + "\n", encoding="utf-8")
    token_lines = [f"{key}\t{caption}" for key, caption in captions.items() if key.rpartition("#")[0] in scene]
    (out / "Flickr8k.token.txt").write_text("\n".join(token_lines) + "\n", encoding="utf-8")
    print(
        f"{out}: {len(expert_lines)} expert and {len(crowd_lines)} crowd judgements of "
        f"{len(test_ids)} sample images, {len(token_lines)} captions"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write (default %(default)s)")
    args = parser.parse_args(argv)
    make_fixture(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
