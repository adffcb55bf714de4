"""The zoo's metrics on cases worked out by hand, and the command line's presets."""

from __future__ import annotations

import pytest

from daybreak.zoo import common, detection, face, keypoints, segmentation, text

torch = pytest.importorskip("torch")


def det(kind: int, score: float, box: list[float]):
    return [float(kind), score, *box]


def test_map50_counts_false_positives_duplicates_and_misses():
    truths = [torch.tensor([[0, 10, 10, 10, 10]]), torch.tensor([[1, 0, 0, 8, 8]])]
    perfect = [
        torch.tensor([det(0, 0.9, [10, 10, 10, 10])]),
        torch.tensor([det(1, 0.8, [0, 0, 8, 8])]),
    ]
    assert detection.average_precision(perfect, truths) == pytest.approx(1.0)
    # class 0: a miss ranked above the hit (AP 0.5); class 1: never found (AP 0)
    worse = [
        torch.tensor([det(0, 0.9, [30, 30, 10, 10]), det(0, 0.8, [11, 11, 10, 10])]),
        torch.tensor([det(0, 0.7, [0, 0, 8, 8])]),  # the right place, the wrong class
    ]
    assert detection.average_precision(worse, truths) == pytest.approx(0.25)
    # a second detection of a box already found is a false positive, ranked after the hit
    twice = [torch.tensor([det(0, 0.9, [10, 10, 10, 10]), det(0, 0.8, [10, 10, 10, 10])])]
    assert detection.average_precision(twice, truths[:1]) == pytest.approx(1.0)
    # IoU 0.5 is the line: a box shifted by half of itself does not count
    shifted = [torch.tensor([det(0, 0.9, [15, 10, 10, 10])])]
    assert detection.iou([15, 10, 10, 10], [10, 10, 10, 10]) == pytest.approx(1 / 3)
    assert detection.average_precision(shifted, truths[:1]) == 0.0


def test_encoded_targets_decode_to_their_boxes():
    boxes = [torch.tensor([[2, 5.0, 7.0, 12.0, 9.0], [0, 30.0, 28.0, 14.0, 16.0]])]
    target = detection.encode(boxes)
    classes = len(detection.CLASSES)
    logit = torch.logit(target.clamp(1e-4, 1 - 1e-4))
    out = torch.cat([logit[:, :classes], target[:, classes : classes + 2], logit[:, -3:-1]], 1)
    found = detection.decode(out)[0]
    best = found[found[:, 1] > 0.9]
    assert sorted(best[:, 0].tolist()) == [0.0, 2.0]
    assert detection.average_precision([found], boxes, 0.9) == pytest.approx(1.0)


def test_flipped_detection_targets_match_the_flipped_image():
    boxes = [torch.tensor([[1, 5.0, 7.0, 12.0, 9.0]])]
    mirrored = [torch.tensor([[1, 48 - 5.0 - 12.0, 7.0, 12.0, 9.0]])]

    generator = torch.Generator().manual_seed(0)
    while True:  # until the coin says flip
        _, flipped = detection.flip(torch.zeros(1, 3, 48, 48), detection.encode(boxes), generator)
        if not torch.equal(flipped, detection.encode(boxes)):
            break
    torch.testing.assert_close(flipped, detection.encode(mirrored), atol=1e-5, rtol=0)


def test_pck_and_nme():
    truth = torch.tensor([[[0.1, 0.1, 1], [0.5, 0.1, 1], [0.3, 0.5, 1]]])  # box side 0.4
    near = truth[..., :2] + torch.tensor([0.03, 0.0])  # within 0.1 * 0.4
    far = truth[..., :2] + torch.tensor([0.05, 0.0])
    assert [int(v) for v in keypoints.pck(near, truth)] == [3, 3]
    assert [int(v) for v in keypoints.pck(far, truth)] == [0, 3]
    hidden = truth.clone()
    hidden[0, 2, 2] = 0  # a keypoint that is not visible is not scored
    assert [int(v) for v in keypoints.pck(near, hidden)] == [2, 2]
    error, faces = face.nme(far, truth)  # eyes 0.4 apart, every point 0.05 off
    assert float(error / faces) == pytest.approx(0.125)


def test_miou():
    truth = torch.zeros(1, 1, 4, 4)
    truth[..., :2, :] = 1  # top half is the person
    assert segmentation.miou(segmentation.intersections(truth, truth)) == (1.0, 1.0)
    half = torch.zeros(1, 1, 4, 4)
    half[..., :1, :] = 1  # finds half the person
    mean, person = segmentation.miou(segmentation.intersections(half, truth))
    assert person == pytest.approx(0.5) and mean == pytest.approx((0.5 + 8 / 12) / 2)


def test_text_batches_are_the_right_tokens():
    texts = ["play some jazz", "wake me up at seven", "hello"]
    vocabulary = text.build_vocabulary(texts)
    encoded = text.Encoded(texts, vocabulary, "cpu")
    ids, offsets = encoded.batch(torch.tensor([2, 0]))
    expected = text.encode([texts[2], texts[0]], vocabulary)
    assert torch.equal(ids, expected[0]) and torch.equal(offsets, expected[1])
    unknown, _ = text.encode(["entirely new words"], vocabulary)
    assert set(unknown.tolist()) == {0}


def test_presets_fill_what_the_command_line_leaves_out():
    from daybreak.zoo import pose

    args = common.parse(["--preset", "full", "--steps", "7"], None, pose.PRESETS, "zoo", "p", "x")
    assert args["steps"] == 7 and args["batch"] == pose.PRESETS["full"]["batch"]
    assert args["device"] == "cuda"
    tiny = common.parse([], None, pose.PRESETS, "zoo", "p", "x")
    assert {k: tiny[k] for k in pose.PRESETS["tiny"]} == pose.PRESETS["tiny"]


def test_train_takes_every_flag_as_an_option():
    import dataclasses
    import typing

    assert typing.get_type_hints(common.Arguments) == typing.get_type_hints(common.Options)
    flags = common.parse([], None, text.PRESETS, "zoo", "p", "x")
    assert set(flags) - {"preset"} == {f.name for f in dataclasses.fields(common.Options)}


def test_main_trains_from_the_command_line(settings):
    import daybreak
    from daybreak.tracking.readers import backend

    ref = text.prepare(settings, count=120)
    text.main(["--dataset", ref, "--steps", "12", "--project", "cli", "--checkpoint-every", "5"])
    (run,) = backend(settings).list_runs(project="cli")
    view = daybreak.get_run(run.id)
    assert view.status == "finished" and view.config["steps"] == 12
    assert [c["step"] for c in view.checkpoints()] == [9, 11]  # keep=2, and one at the end


def test_labels_of_larger_assets_are_scaled_to_the_training_size():
    """Keypoints, boxes and masks are in the asset's own pixels; the images are resized."""
    import numpy as np

    from daybreak.lake.masks import encode_mask

    mask = np.zeros((96, 64), dtype=np.uint8)
    mask[:48, :] = 255  # the top half
    split = common.Split(
        sha256=["a"],
        images=torch.zeros(1, 3, 48, 48),
        labels=[
            [
                {"keypoints": [32.0, 24.0, 2.0, 0.0, 0.0, 0.0], "label": "disc"},
                {"bbox": [16.0, 48.0, 32.0, 24.0], "label": "disc", "mask": encode_mask(mask)},
            ]
        ],
        targets=[-1],
        classes=[],
        sizes=[(64, 96)],
    )
    torch.testing.assert_close(
        keypoints.targets(split, ["a", "b"]), torch.tensor([[[0.5, 0.25, 1.0], [0.0, 0.0, 0.0]]])
    )
    # matched by name where the row names its points: order and extra points do not matter
    split.labels[0][0]["meta"] = '{"keypoints": ["b", "a"]}'
    torch.testing.assert_close(
        keypoints.targets(split, ["a", "c"]), torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    )
    torch.testing.assert_close(keypoints.targets(split, ["b"]), torch.tensor([[[0.5, 0.25, 1.0]]]))
    with pytest.raises(common.ConfigError, match="none of the names"):
        keypoints.targets(split, ["nose"])
    split.labels = [[split.labels[0][1]]]
    (boxes,) = detection.box_targets(split)
    torch.testing.assert_close(boxes, torch.tensor([[1.0, 12.0, 24.0, 24.0, 12.0]]))
    split.labels[0][0]["meta"] = None
    masks = segmentation.mask_targets(split)
    assert masks.shape == (1, 1, 48, 48) and masks[0, 0, :24].all() and not masks[0, 0, 24:].any()
