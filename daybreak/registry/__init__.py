"""The model registry: categories, models, numbered versions with lineage, signature,
preprocessing and a model card, aliases with their history, and the exports conversion adds.

The service functions in :mod:`daybreak.registry.service` are what the CLI, the web API and
``daybreak.convert`` call; see docs/registry.md.
"""
