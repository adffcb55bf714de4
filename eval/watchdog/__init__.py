"""The watchdog's evaluation harness: a labelled corpus of real tiny training runs with
injected faults (and healthy runs of many shapes), a scorer, and a baseline detector.

    python -m eval.watchdog.generate --out eval/watchdog/corpus [--quick]
    python -m eval.watchdog.score --corpus eval/watchdog/corpus [--detector daybreak|baseline]

See eval/watchdog/README.md.
"""
