"""What each category's outputs become, checked without a server: detection boxes decoded in
numpy equal the zoo's torch decode, masks come back as PNGs at the input image's size."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from daybreak.serve import boxes, outputs

torch = pytest.importorskip("torch")


def test_numpy_box_decoding_matches_the_zoo_decode() -> None:
    from daybreak.zoo import detection

    rng = np.random.default_rng(0)
    maps = rng.normal(0, 2, (4, len(detection.CLASSES) + 4, detection.GRID, detection.GRID))
    maps = maps.astype(np.float32)
    expected = detection.decode(torch.from_numpy(maps))
    for n in range(len(maps)):
        got = boxes.decode(maps[n], len(detection.CLASSES), detection.STRIDE)
        assert got.shape == tuple(expected[n].shape)
        np.testing.assert_allclose(got, expected[n].numpy(), rtol=1e-5, atol=1e-4)


def test_detection_boxes_are_in_the_input_image_pixels() -> None:
    maps = np.full((1, 7, 12, 12), -10.0, np.float32)
    maps[0, 1, 5, 3] = 5.0  # a disc centred in cell (i=3, j=5)
    maps[0, 3:5, 5, 3] = [2.0, 4.0]  # 2 x 4 cells
    maps[0, 5:7, 5, 3] = 0.0  # offset 0.5 in the cell
    prep = {"resize": [48, 48], "stride": 4, "labels": ["square", "disc", "triangle"]}
    (found,) = outputs.describe("detection", prep, ["maps"], [maps], [(96, 48)])
    (box,) = found["boxes"]
    assert box["label"] == "disc" and box["score"] == pytest.approx(1 / (1 + np.exp(-5)))
    # centre (3.5, 5.5) cells = (14, 22) px at 48x48; 8 x 16 px; then x scaled by 2
    assert (box["x"], box["y"], box["w"], box["h"]) == pytest.approx((20, 14, 16, 16))


def test_segmentation_masks_come_back_as_pngs_with_coverage() -> None:
    from PIL import Image

    logits = np.full((1, 1, 4, 4), -3.0, np.float32)
    logits[0, 0, :2, :] = 3.0  # the top half is a person
    (found,) = outputs.describe("segmentation", {}, ["mask"], [logits], [(8, 6)])
    mask = Image.open(io.BytesIO(base64.b64decode(found["mask_png"])))
    assert mask.size == (8, 6) and mask.mode == "P"
    assert np.asarray(mask)[0].tolist() == [1] * 8 and np.asarray(mask)[-1].tolist() == [0] * 8
    assert found["coverage"] == {"background": 0.5, "person": 0.5}


def test_classification_keeps_probabilities_and_softmaxes_logits() -> None:
    probs = np.array([[0.2, 0.8]], np.float32)
    (kept,) = outputs.describe("classification", {"labels": ["no", "yes"]}, ["p"], [probs], [])
    assert kept["label"] == "yes" and kept["score"] == pytest.approx(0.8)
    (soft,) = outputs.describe("classification", {}, ["p"], [np.array([[0.0, 2.0]])], [])
    assert soft["label"] == "1" and soft["score"] == pytest.approx(1 / (1 + np.exp(-2)))


def test_other_outputs_come_back_raw_by_name() -> None:
    values = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([7.0], np.float32)]
    found = outputs.describe("custom", {}, ["a", "b"], values, [])
    assert found == [
        {"outputs": {"a": [0, 1, 2], "b": [7]}},
        {"outputs": {"a": [3, 4, 5], "b": [7]}},
    ]
