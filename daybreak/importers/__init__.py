"""Importers: runs recorded by other tools (TensorBoard event files, MLflow) become Daybreak runs.

Each importer first plans (finds the source runs, gives each a stable id derived from the
source, and skips those already imported), then reads the rest into a staging folder and
registers them all at once, so a corrupt source leaves nothing behind. See docs/import.md.
"""
