"""The MLflow tracking protocol over Daybreak's runs: experiments are projects, params are the
run's config, metrics go to the same point files as the SDK's. See docs/mlflow.md."""
