"""Workflows: definitions and their validation, node kinds (one module each, see nodes/), the
engine that runs them and emits neutral workflow events, and durable runs (runs.py).

Nothing here knows HTTP or a wire protocol: protocols/coze_workflow.py and protocols/aiflowy.py
render the events, api/workflows.py joins the parts.
"""
