"""Text classification: the intent of a short assistant request.

Sentences are made from templates per intent (greeting, goodbye, weather, music, alarm,
timer), with slots (places, times, artists, durations) shared between intents where they
would be, polite fillers and the odd typo, all different. Each is a ``.txt`` file in its
intent's folder, ingested as a text asset with the folder as its class label. The vocabulary
(words and word pairs) is built from the train split; the model averages their embeddings
(an embedding bag) into a linear classifier. The metric is accuracy on the val split; the
baseline is always answering the most common training intent.

``python -m daybreak.zoo.text`` (tiny: CPU, seconds) or ``--preset full --device cuda``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter
from pathlib import Path
from typing import Any, Unpack

from daybreak.config import Settings
from daybreak.zoo import common

CATEGORY = "text"
METRIC = "val/acc"
GOAL = "max"
DATASET = "zoo-text"
MODEL = "intent-bag"
UNKNOWN = "<unk>"
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 200, "lr": 2e-2, "batch": 64, "width": 32, "count": 1200,
             "checkpoint_every": 100, "eval_every": 50, "device": "cpu", "threads": 1},
    "full": {"steps": 10000, "lr": 5e-3, "batch": 512, "width": 256, "count": 60000,
             "checkpoint_every": 1000, "eval_every": 500, "device": "cuda", "threads": 0},
}  # fmt: skip
DEFAULTS = common.Options(MODEL, **PRESETS["tiny"])

SLOTS = {
    "city": ["paris", "berlin", "tokyo", "lagos", "lima", "oslo", "cairo", "delhi", "austin",
             "home", "the office", "the beach", "london", "seoul", "madrid", "quebec"],
    "when": ["today", "tomorrow", "tonight", "this weekend", "on monday", "on friday",
             "this afternoon", "next week", "in the morning", "later"],
    "time": ["6 am", "6:30", "seven", "7:15 am", "8", "noon", "9 pm", "half past five",
             "quarter to eight", "10:45", "midnight", "five thirty"],
    "length": ["five minutes", "10 minutes", "an hour", "half an hour", "90 seconds",
               "twenty minutes", "3 minutes", "45 minutes", "two hours", "a minute"],
    "artist": ["miles davis", "the beatles", "adele", "fela kuti", "bach", "daft punk",
               "nina simone", "radiohead", "bts", "shakira", "queen", "coltrane"],
    "genre": ["jazz", "rock", "lofi", "classical music", "hip hop", "afrobeat", "something calm",
              "workout music", "the radio", "a podcast"],
    "name": ["sam", "alex", "kim", "jo", "taylor", "morgan", "ada", "lee"],
}  # fmt: skip
TEMPLATES = {
    "greeting": ["hello", "hi there", "good morning", "hey {name}", "good evening {name}",
                 "hi how are you", "morning", "hello again", "hey how is it going",
                 "nice to see you {name}", "greetings", "yo what's up"],
    "goodbye": ["bye", "goodbye {name}", "see you {when}", "talk to you {when}", "good night",
                "i'm off now", "catch you later", "bye for now", "that's all see you",
                "farewell", "i have to go now", "see you at {time}"],
    "weather": ["what's the weather {when}", "will it rain in {city} {when}",
                "do i need an umbrella {when}", "how hot is it in {city}",
                "is it going to snow {when}", "weather in {city}",
                "what's the forecast for {city} {when}", "how cold will it be at {time}",
                "is it sunny in {city}", "will it be windy {when}"],
    "music": ["play {artist}", "put on some {genre}", "i want to hear {artist}",
              "play {genre} {when}", "can you play something by {artist}", "music please",
              "shuffle my {genre} playlist", "play the new {artist} album", "turn on {genre}",
              "next song", "play {genre} in {city}"],
    "alarm": ["wake me up at {time}", "set an alarm for {time}", "alarm at {time} {when}",
              "set my alarm for {time} {when}", "wake me {when} at {time}",
              "cancel my {time} alarm", "i need to get up at {time}", "alarm for {time}"],
    "timer": ["set a timer for {length}", "timer {length}", "start a {length} timer",
              "count down {length}", "remind me in {length}", "how long is left on my timer",
              "stop the timer", "set a {length} timer for the pasta"],
}  # fmt: skip
PREFIXES = ["", "", "", "please ", "hey ", "ok ", "could you ", "um ", "assistant "]
SUFFIXES = ["", "", "", " please", " thanks", " now", " ok", "?", " right away"]


# -- data ----------------------------------------------------------------------------------------


def make_sentence(intent: str, rng: Any) -> str:
    """One request for ``intent``: a filled template, maybe with fillers and a typo."""
    template = TEMPLATES[intent][int(rng.integers(len(TEMPLATES[intent])))]
    text = re.sub(
        r"\{(\w+)\}", lambda m: SLOTS[m[1]][int(rng.integers(len(SLOTS[m[1]])))], template
    )
    text = PREFIXES[int(rng.integers(len(PREFIXES)))] + text
    text += SUFFIXES[int(rng.integers(len(SUFFIXES)))]
    if rng.uniform() < 0.2:  # a typo: two neighbouring letters swapped
        at = int(rng.integers(0, max(1, len(text) - 1)))
        text = text[:at] + text[at + 1 : at + 2] + text[at : at + 1] + text[at + 2 :]
    return text


def write_data(folder: Path | str, count: int, seed: int) -> common.Generated:
    """About ``count`` distinct sentences as ``folder/texts/INTENT/NNNNN.txt``. Stops early
    when the templates cannot make more distinct ones (the lake keeps one copy of equal
    bytes, and a sentence in two intents' folders would get both labels)."""
    import numpy as np

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    intents = list(TEMPLATES)
    tries = 0
    while len(seen) < count and tries < 50 * count:
        tries += 1
        intent = intents[tries % len(intents)]
        text = make_sentence(intent, rng)
        if text in seen:
            continue
        target = folder / "texts" / intent / f"{seed}-{len(seen):05d}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", encoding="utf-8")
        seen.add(text)
    return common.Generated(folder / "texts")


def prepare(settings: Settings, count: int = 1200, seed: int = 0) -> str:
    """The zoo's intent dataset version (made on first use); returns its ref."""
    return common.prepare_dataset(
        settings, DATASET, "zoo-text", "class", lambda f: write_data(f, count, seed)
    )


# -- tokens --------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Lower-case words, and each pair of neighbouring words."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def build_vocabulary(texts: list[str], limit: int = 20000) -> dict[str, int]:
    """The ``limit`` most common tokens of ``texts`` (the train split), by frequency then
    alphabetically; id 0 is every unknown token."""
    counts = Counter(token for text in texts for token in tokens(text))
    ranked = sorted(counts, key=lambda t: (-counts[t], t))[: limit - 1]
    return {UNKNOWN: 0, **{token: i + 1 for i, token in enumerate(ranked)}}


def encode(texts: list[str], vocabulary: dict[str, int]) -> tuple[Any, Any]:
    """All texts as one flat id tensor and each text's start offset (an EmbeddingBag's input)."""
    import torch

    ids: list[int] = []
    offsets: list[int] = []
    for text in texts:
        offsets.append(len(ids))
        ids.extend(vocabulary.get(token, 0) for token in tokens(text) or [UNKNOWN])
    return torch.tensor(ids), torch.tensor(offsets)


class Encoded:
    """Texts as id lists (on ``device``), with the batch gathering an EmbeddingBag needs
    (worked out on the CPU, so a batch costs no wait on the GPU)."""

    def __init__(self, texts: list[str], vocabulary: dict[str, int], device: str) -> None:
        import torch

        ids, self.offsets = encode(texts, vocabulary)
        self.lengths = torch.diff(self.offsets, append=torch.tensor([len(ids)]))
        self.ids = ids.to(device)
        self.device = device

    def __len__(self) -> int:
        return len(self.offsets)

    def batch(self, rows: Any) -> tuple[Any, Any]:
        """(flat ids, offsets) of ``rows`` (a CPU index tensor), on the device."""
        import torch

        lengths = self.lengths[rows]
        offsets = torch.cumsum(lengths, 0) - lengths
        spread = torch.repeat_interleave(self.offsets[rows] - offsets, lengths)
        positions = torch.arange(int(lengths.sum())) + spread
        return self.ids[positions.to(self.device)], offsets.to(self.device)


# -- model ---------------------------------------------------------------------------------------


def build_model(vocabulary: int, classes: int, width: int = 32) -> Any:
    """Mean of token embeddings, a hidden layer, one logit per class."""
    from torch import nn

    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.EmbeddingBag(vocabulary, width, mode="mean")
            self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, classes))

        def forward(self, ids: Any, offsets: Any) -> Any:
            return self.head(self.embed(ids, offsets))

    return Bag()


def evaluate(texts: Encoded, labels: Any, batch: int = 1024) -> common.Evaluate:
    import torch
    from torch.nn import functional

    def run(model: Any) -> dict[str, float]:
        total, right = 0.0, 0
        for part in common.batches(len(texts), batch):
            logits = model(*texts.batch(torch.arange(part.start, part.stop)))
            total += float(functional.cross_entropy(logits, labels[part], reduction="sum"))
            right += int((logits.argmax(1) == labels[part]).sum())
        return {"val/loss": total / len(texts), METRIC: right / len(texts)}

    return run


# -- training ------------------------------------------------------------------------------------


def train(**arguments: Unpack[common.Arguments]) -> str:
    """Train and log; returns the run id. ``dataset`` is a lake version of text assets with
    class labels (default: the zoo's generated one, made on first use); the rest default to
    ``tiny``."""
    import torch
    from torch.nn import functional

    options = dataclasses.replace(DEFAULTS, **arguments)
    device = options.device
    run, dataset = common.start(CATEGORY, options, prepare, MODEL, "accuracy")
    with run:
        train_split, val_split = common.load_splits(dataset, None)
        classes = train_split.classes
        vocabulary = build_vocabulary(train_split.texts)
        train_x = Encoded(train_split.texts, vocabulary, device)
        val_x = Encoded(val_split.texts, vocabulary, device)
        train_y = torch.tensor(train_split.targets, device=device)
        val_y = torch.tensor(val_split.targets, device=device)
        common_class = Counter(train_split.targets).most_common(1)[0][0]
        run.summary["baseline/acc"] = float((val_y == common_class).float().mean())
        model = build_model(len(vocabulary), len(classes), options.width).to(device)

        def loss_of(model: Any, rows: Any, generator: Any) -> Any:
            return functional.cross_entropy(model(*train_x.batch(rows)), train_y[rows])

        common.fit(
            run,
            model,
            options.hyper(warmup=10),
            len(train_x),
            loss_of,
            evaluate(val_x, val_y),
            METRIC,
            options.seed,
            extra={"vocabulary": vocabulary, "classes": classes},
        )
    return str(run.id)


def main(argv: list[str] | None = None) -> None:
    common.main(train, common.parse(argv, __doc__, PRESETS, "zoo", MODEL, "zoo-text@1"))


if __name__ == "__main__":
    main()
