"""Outbound network access under one policy (no SSRF): used by tools and workflow nodes."""
