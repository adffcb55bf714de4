"""The data lake: assets (content-addressed bytes) and annotations in Lance tables, queried with
DuckDB, and the dataset versions composed from them."""
