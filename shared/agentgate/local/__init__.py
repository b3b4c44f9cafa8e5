"""The local gateway (dev server) and the operator's CLI. Never imported by Lambda code."""
