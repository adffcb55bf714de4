"""A tiny real classifier, trained from a lake dataset version, for the registry's tests."""

from __future__ import annotations

import pytest

from daybreak.config import Settings

torch = pytest.importorskip("torch")


def train_classifier(settings: Settings, lr: float = 3e-3) -> str:
    """20 steps on 120 generated shapes; checkpoints at steps 9 and 19. Returns the run id."""
    from daybreak.zoo import classifier

    ref = classifier.prepare(settings, count=120)
    return classifier.train(
        steps=20, lr=lr, batch=16, eval_every=10, checkpoint_every=10, dataset=ref
    )


@pytest.fixture
def run_id(settings: Settings) -> str:
    return train_classifier(settings)
