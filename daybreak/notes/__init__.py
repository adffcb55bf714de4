"""Notes (the team's shared development log) and action items (what someone must act on)."""

from __future__ import annotations

from daybreak.notes.service import (
    action_item_from_finding,
    add_action_item,
    add_note,
    assign_action_item,
    get_action_item,
    list_action_items,
    list_notes,
    resolve_action_item,
)

__all__ = [
    "action_item_from_finding",
    "add_action_item",
    "add_note",
    "assign_action_item",
    "get_action_item",
    "list_action_items",
    "list_notes",
    "resolve_action_item",
]
