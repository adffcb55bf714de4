"""nvJPEG: JPEGs from the lake decoded on the GPU match Pillow's decoding.

Needs a CUDA GPU and torchvision; skipped with that reason elsewhere (CI has neither).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision", reason="nvJPEG decoding goes through torchvision")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_gpu_decoding_matches_pillow(settings, tmp_path):
    from PIL import Image

    from daybreak.lake import datasets
    from daybreak.lake.ingest import ingest
    from daybreak.lake.tables import Lake
    from daybreak.lake.torch import TorchDataset, collate_encoded, decode_jpegs

    rng = np.random.default_rng(0)
    (tmp_path / "in" / "x").mkdir(parents=True)
    for i in range(8):
        pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "in" / "x" / f"{i}.jpg", quality=90)
    lake = Lake(settings)
    ingest(lake, [tmp_path / "in"], folder_labels=True)
    datasets.create(lake, settings, "jpegs", "TRUE", {"train": 1.0})
    encoded_data = TorchDataset("jpegs@1", split=None, decode=False, settings=settings)
    decoded_data = TorchDataset("jpegs@1", split=None, settings=settings)
    encoded, _ = collate_encoded(encoded_data.__getitems__(list(range(8))))
    on_gpu = decode_jpegs(encoded, device="cuda")
    for image, (pil, _) in zip(on_gpu, decoded_data.__getitems__(list(range(8))), strict=True):
        assert image.is_cuda and image.dtype == torch.uint8 and tuple(image.shape) == (3, 48, 64)
        expected = torch.from_numpy(np.asarray(pil.convert("RGB"))).permute(2, 0, 1)
        assert (image.cpu().int() - expected.int()).abs().float().mean() < 3
