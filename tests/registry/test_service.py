"""The registry's service functions on a tiny real classifier, on the real store."""

from __future__ import annotations

import pytest

from daybreak.errors import ConfigError, ConflictError, NotFoundError
from daybreak.registry import aliases, card, categories, compare, exports, service
from daybreak.registry.errors import ModelFormatError
from daybreak.store.engine import get_database
from daybreak.store.schema import runs
from daybreak.zoo import CATEGORIES
from tests.registry.conftest import train_classifier

torch = pytest.importorskip("torch")

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_register_a_run_with_lineage_signature_and_preprocessing(settings, run_id):
    with get_database(settings.db_url).write() as conn:  # as if the run had been in a repo
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(git={"commit": COMMIT, "branch": "main", "dirty": False})
        )
    first = service.register_run(settings, run_id, "shapes-cnn", "classification", step=9)
    second = service.register_run(settings, run_id[:8], "shapes-cnn", "classification")
    assert (first.ref, second.ref) == ("shapes-cnn@1", "shapes-cnn@2")
    assert (first.checkpoint_step, second.checkpoint_step) == (9, 19)

    facts = second.lineage
    assert facts["run_id"] == run_id and facts["project"] == "demo"
    assert [d["ref"] for d in facts["datasets"]] == ["shapes@1"]
    assert sum(facts["datasets"][0]["split_counts"].values()) == 120
    assert facts["code"]["commit"] == COMMIT
    assert facts["config"]["model"] == "shapes-cnn" and facts["config"]["steps"] == 20
    assert 0.0 <= facts["metrics"]["val/acc"] <= 1.0

    assert second.signature == {
        "inputs": [{"name": "image", "shape": ["batch", 1, 16, 16], "dtype": "float32"}],
        "outputs": [{"name": "logits", "shape": ["batch", 4], "dtype": "float32"}],
    }
    prep = second.preprocessing
    assert prep["resize"] == [16, 16] and prep["channels"] == 1
    assert prep["labels"] == ["bar", "cross", "ring", "square"]  # the lake's label order
    assert prep["mean"] == [0.0] and prep["std"] == [1.0]

    assert len(second.sha256) == 64 and second.size > 0
    assert service.artifact_path(settings, second).stat().st_size == second.size
    module = service.load_module(settings, "shapes-cnn")  # the latest version
    assert module(torch.zeros(3, 1, 16, 16)).shape == (3, 4)
    assert [v.version for v in service.list_versions(settings, "shapes-cnn")] == [1, 2]


def test_the_card_is_generated_and_editable(settings, run_id):
    version = service.register_run(
        settings, run_id, "shapes-cnn", "classification", owner="ana", description="Shapes."
    )
    text = version.card
    assert text.startswith("# shapes-cnn@1 (classification)")
    assert "shapes@1: 120 rows" in text and "val/acc" in text
    assert card.field(text, "owner") == "ana"
    assert "synthetic data" in card.field(text, "limitations")
    assert "16x16" in card.field(text, "limitations")
    assert card.field(text, "intended use") == categories.DEFAULTS["classification"][1]

    edited = service.set_card_field(settings, "shapes-cnn@1", "owner", "bo")
    assert card.field(edited.card, "Owner") == "bo"
    assert card.field(edited.card, "metrics") == card.field(text, "metrics")  # untouched
    added = service.set_card_field(settings, "shapes-cnn@1", "known_issues", "confuses bars")
    assert card.field(added.card, "known issues") == "confuses bars"
    replaced = service.set_card(settings, "shapes-cnn", "# mine\n\n## Owner\n\ncy\n")
    assert replaced.card.startswith("# mine")
    with pytest.raises(ConfigError):
        service.set_card(settings, "shapes-cnn", "  ")
    service.register_run(settings, run_id, "shapes-cnn", "classification", created_by="cy")
    assert service.get_model(settings, "shapes-cnn").owner == "ana"  # kept unless given again
    service.register_run(settings, run_id, "shapes-cnn", "classification", owner="bo")
    assert service.get_model(settings, "shapes-cnn").owner == "bo"


def test_aliases_move_with_notes_and_history(settings, run_id):
    for step in (9, 19, None):
        service.register_run(settings, run_id, "shapes-cnn", "classification", step=step)
    aliases.set_alias(settings, "shapes-cnn@1", "production", "first release", by="ana")
    assert service.get_version(settings, "shapes-cnn@production").version == 1
    aliases.set_alias(settings, "shapes-cnn@3", "production", "better val/acc", by="bo")
    aliases.set_alias(settings, "shapes-cnn@production", "staging", "what prod runs")
    assert service.get_version(settings, "shapes-cnn@production").version == 3
    assert service.get_version(settings, "shapes-cnn@staging").aliases == [
        "production",
        "staging",
    ]
    assert service.get_model(settings, "shapes-cnn").aliases == {"production": 3, "staging": 3}
    moves = aliases.alias_moves(settings, "shapes-cnn", "production")
    assert [(m.old_version, m.new_version, m.note, m.by) for m in moves] == [
        (None, 1, "first release", "ana"),
        (1, 3, "better val/acc", "bo"),
    ]
    aliases.delete_alias(settings, "shapes-cnn", "staging", "not needed")
    assert [a.alias for a in aliases.list_aliases(settings, "shapes-cnn")] == ["production"]
    assert aliases.alias_moves(settings, "shapes-cnn", "staging")[-1].new_version is None

    with pytest.raises(NotFoundError, match="no version 9"):
        aliases.set_alias(settings, "shapes-cnn@9", "production")
    with pytest.raises(NotFoundError, match="no alias 'staging'"):
        service.get_version(settings, "shapes-cnn@staging")
    with pytest.raises(ConfigError):
        aliases.set_alias(settings, "shapes-cnn@1", "latest")
    with pytest.raises(NotFoundError):
        aliases.delete_alias(settings, "shapes-cnn", "nope")


def test_diff_shows_config_metrics_and_lineage(settings, run_id):
    other = train_classifier(settings, lr=1e-3)
    service.register_run(settings, run_id, "shapes-cnn", "classification")
    service.register_run(settings, other, "shapes-cnn", "classification")
    changes = compare.diff(settings, "shapes-cnn@1", "shapes-cnn@2")
    assert changes["config"]["lr"] == [3e-3, 1e-3]
    assert changes["lineage"]["run_id"] == [run_id, other]
    assert changes["signature"] == {} and changes["preprocessing"] == {}
    same = compare.diff(settings, "shapes-cnn@1", "shapes-cnn@1")
    assert not any(same[k] for k in ("config", "metrics", "lineage", "signature"))


def test_categories_are_seeded_and_configurable(settings):
    assert {c.name for c in categories.list_all(settings)} == set(CATEGORIES)
    categories.add(settings, "depth", "monocular depth", "Estimate depth per pixel.")
    assert "depth" in {c.name for c in categories.list_all(settings)}
    with pytest.raises(ConflictError):
        categories.add(settings, "depth")
    with pytest.raises(ConfigError):
        categories.add(settings, "Bad Name")
    assert service.list_models(settings, "depth") == []


def test_bad_input_is_refused_clearly(settings, run_id):
    with pytest.raises(NotFoundError, match="no run"):
        service.register_run(settings, "doesnotexist", "m", "classification")
    with pytest.raises(NotFoundError, match="no model category 'sound'") as caught:
        service.register_run(settings, run_id, "m", "sound")
    assert "classification" in caught.value.hint
    with pytest.raises(NotFoundError, match="no checkpoint at step 3"):
        service.register_run(settings, run_id, "m", "classification", step=3)
    service.register_run(settings, run_id, "m", "classification")
    with pytest.raises(ConflictError, match="in category 'classification'"):
        service.register_run(settings, run_id, "m", "pose")
    with pytest.raises(NotFoundError, match="no model 'ghost'"):
        service.get_version(settings, "ghost@1")
    with pytest.raises(NotFoundError, match="no version 7"):
        service.get_version(settings, "m@7")
    with pytest.raises(ConfigError):
        service.get_version(settings, "bad name@1")
    with pytest.raises(NotFoundError):
        service.list_models(settings, "sound")
    # nothing half-written: the failed registrations left no model, versions or blobs
    assert [m.name for m in service.list_models(settings)] == ["m"]
    assert len(list((settings.home / "blobs" / "registry").rglob("*.pt"))) == 1


def test_a_run_without_checkpoints_is_refused(settings):
    import daybreak

    with daybreak.init(project="p", name="no-ckpt", config={"model": "shapes-cnn"}) as run:
        run.log({"loss": 1.0}, step=0)
    with pytest.raises(NotFoundError, match="has no checkpoint") as caught:
        service.register_run(settings, run.id, "m", "classification")
    assert "register-onnx" in caught.value.hint


def test_a_checkpoint_of_an_unknown_model_is_refused(settings):
    import daybreak

    with daybreak.init(project="p", name="custom", config={"model": "mine"}) as run:
        run.save_checkpoint({"model": {}, "step": 0}, step=0)
    with pytest.raises(ModelFormatError, match="'mine' is not a zoo model"):
        service.register_run(settings, run.id, "m", "classification")
    assert service.list_models(settings) == []


def test_exports_are_recorded_for_conversion(settings, run_id):
    service.register_run(settings, run_id, "shapes-cnn", "classification")
    first = exports.record_export(
        settings, "shapes-cnn", "mobile-cpu", "onnx", "fp32", "ok", {"parity": 1e-6}, None, 10, True
    )
    second = exports.record_export(
        settings, "shapes-cnn@1", "mobile-cpu", "onnx", "int8", "ok", {}, recommended=True
    )
    found = exports.list_exports(settings, "shapes-cnn@1")
    assert [(e.id, e.recommended) for e in found] == [(first.id, False), (second.id, True)]
    with pytest.raises(ConfigError):
        exports.record_export(settings, "shapes-cnn", "t", "onnx", "fp32", "great", {})
    with pytest.raises(ConfigError):
        exports.record_export(
            settings, "shapes-cnn", "t", "onnx", "fp32", "failed", {}, recommended=True
        )
