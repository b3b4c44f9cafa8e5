"""Access policy: what a key may use (bindings), from where (addresses), how fast (limits,
ratelimit), what it used (metering), and seed 000's channel configuration that sets all of it.

The authorizer puts a key's policy in its context (auth.principal); routes apply it here.
"""
