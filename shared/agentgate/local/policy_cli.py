"""Operator commands of the access policy (agentgate.policy), beside `agentgate keys`:

    agentgate keys create ... [--bot-ids main 123] [--workflow-ids ...] [--allowed-ips 203.0.113.0/24]
                              [--rpm N --tpm N --concurrency N] [--default-bot main]
                              [--dm-policy allow|disabled] [--group-policy allow|disabled]
    agentgate keys update --id KEY_ID [--name ...] [--enable | --disable] [the policy flags above]
    agentgate keys rotate --id KEY_ID [--grace-ms 86400000]     (prints the new key once)
    agentgate config apply FILE [--dry-run]                      (seed 000's channels.api YAML)
    agentgate usage [--from DAY --to DAY] [--group-by key|bot|user|day] [--key-id ID [--requests]]

Like every operator command they find the service by themselves (agentgate.local.operator): a
running `agentgate dev`'s API and root key, a deployment's `--base-url/--admin-key`, or, with
neither, the configured tables.
"""

from __future__ import annotations

import json
import sys

PAT = "/api/permission_api/pat"


def add_policy_arguments(parser) -> None:
    parser.add_argument("--bot-ids", nargs="*", default=None, metavar="BOT",
                        help="bots (ids or aliases) the key may use; none given = all of the owner's")
    parser.add_argument("--workflow-ids", nargs="*", default=None, metavar="WORKFLOW")
    parser.add_argument("--allowed-ips", nargs="*", default=None, metavar="CIDR",
                        help="addresses the key may be used from (CIDRs); none given = anywhere")
    parser.add_argument("--rpm", type=int, default=None, help="requests per window (0 = unlimited)")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per window (0 = unlimited)")
    parser.add_argument("--concurrency", type=int, default=None, help="concurrent streams (0 = unlimited)")
    parser.add_argument("--default-bot", default=None, help="the bot for requests naming no model")
    parser.add_argument("--dm-policy", choices=["allow", "disabled"], default=None)
    parser.add_argument("--group-policy", choices=["allow", "disabled"], default=None)


def policy_body(args) -> dict:
    """The API's policy fields from the flags given (absent flags are left out)."""
    body: dict = {}
    for flag in ("bot_ids", "workflow_ids", "allowed_ips", "dm_policy", "group_policy"):
        value = getattr(args, flag, None)
        if value is not None:
            body[flag] = value
    if getattr(args, "default_bot", None) is not None:
        body["default_bot_id"] = args.default_bot
    limits = {name: getattr(args, name) for name in ("rpm", "tpm", "concurrency") if getattr(args, name, None) is not None}
    if limits:
        body["rate_limits"] = limits
    return body


def add_parsers(sub, keys_sub, operator) -> None:
    update = keys_sub.add_parser("update", help="change a key's name, state or policy")
    update.add_argument("--id", required=True)
    update.add_argument("--name", default=None)
    state = update.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_true", default=None)
    state.add_argument("--disable", dest="enabled", action="store_false")
    add_policy_arguments(update)
    rotate = keys_sub.add_parser("rotate", help="a new secret for the same key; the old one works for a grace period")
    rotate.add_argument("--id", required=True)
    rotate.add_argument("--grace-ms", type=int, default=24 * 3600 * 1000,
                        help="how long the old secret keeps working (default 24 h, at most 7 days)")
    config = sub.add_parser("config", help="apply seed 000's channel configuration (YAML) to the keys")
    config_sub = config.add_subparsers(dest="action", required=True)
    apply_cmd = config_sub.add_parser("apply")
    apply_cmd.add_argument("file")
    apply_cmd.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    usage = sub.add_parser("usage", help="metered usage per key, bot, end user or day")
    usage.add_argument("--from", dest="from_", default=None, metavar="DAY", help="YYYY-MM-DD (default: 29 days ago)")
    usage.add_argument("--to", default=None, metavar="DAY", help="YYYY-MM-DD (default: today)")
    usage.add_argument("--group-by", choices=["key", "bot", "user", "day"], default="day")
    usage.add_argument("--key-id", default=None)
    usage.add_argument("--bot-id", default=None)
    usage.add_argument("--owner", default=None, help="one owner (default: every owner)")
    usage.add_argument("--requests", action="store_true", help="the key's last requests (needs --key-id)")
    usage.add_argument("--limit", type=int, default=50)
    for parser in (update, rotate, apply_cmd, usage):
        operator.add_arguments(parser)


def _print(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _describe_changes(result: dict) -> None:
    for warning in result.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    verb = "would" if result.get("dry_run") else "did"
    for change in result.get("changes") or []:
        fields = ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" if isinstance(v, list) and len(v) == 2 else f"{k}={v!r}"
                           for k, v in (change.get("fields") or {}).items())
        key = f" (key {change['key_id']})" if change.get("key_id") else ""
        print(f"{change['action']:>9} account {change['account_id']}{key}{': ' + fields if fields else ''}",
              file=sys.stderr)
    print(f"{verb} change {result.get('changed', 0)} account(s) of owner {result.get('owner_id')}", file=sys.stderr)


def _load_config(path: str) -> dict:
    import yaml

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def run(args, conn) -> int:
    """One command; conn is the API connection, or None (the tables)."""
    if args.command == "config":
        doc = _load_config(args.file)
        if conn is not None:
            answer = conn.call("POST", "/api/permission_api/config/apply",
                               json_body={"config": doc, "dry_run": args.dry_run})
            result = answer.get("data") or answer
        else:
            from agentgate.auth import management
            from agentgate.policy import channel_config

            result = channel_config.apply(management.CLI_ACTOR, doc, dry_run=args.dry_run)
        _describe_changes(result)
        _print(result)
        return 0
    if args.command == "usage":
        params = {"from": args.from_, "to": args.to, "group_by": args.group_by, "key_id": args.key_id,
                  "bot_id": args.bot_id, "owner_id": args.owner, "requests": "true" if args.requests else None,
                  "limit": args.limit}
        if conn is not None:
            answer = conn.call("GET", "/v1/usage", params=params)
            _print(answer.get("data") or answer)
            return 0
        from agentgate.policy import metering

        if args.requests:
            if not args.key_id:
                print("error: --requests lists one key's requests: give --key-id", file=sys.stderr)
                return 2
            _print({"key_id": args.key_id, "requests": metering.recent_requests(args.key_id, args.limit)})
            return 0
        start, end = metering.day_range(args.from_, args.to)
        _print(metering.summary(args.owner, start, end, args.group_by, key_id=args.key_id, bot_id=args.bot_id))
        return 0
    if args.action == "update":
        body = {"id": args.id, "name": args.name, "enabled": args.enabled, **policy_body(args)}
        body = {k: v for k, v in body.items() if v is not None}
        if conn is not None:
            answer = conn.call("POST", f"{PAT}/update_personal_access_token_and_permission", json_body=body)
            _print(answer.get("data") or answer)
            return 0
        from agentgate.auth import management

        item = management.update_key(management.CLI_ACTOR, args.id, name=args.name, enabled=args.enabled,
                                     policy=management.KeyPolicy.from_values(policy_body(args)))
        _print(management.describe(item))
        print("note: a deployed stage's authorizer cache may serve the old policy for up to its "
              "AuthorizerCacheSeconds; changes through the API flush it", file=sys.stderr)
        return 0
    if args.action == "rotate":
        if conn is not None:
            answer = conn.call("POST", f"{PAT}/rotate_personal_access_token",
                               json_body={"id": args.id, "grace_ms": args.grace_ms})
            _print(answer.get("data") or answer)
            return 0
        from agentgate.auth import management

        item, plaintext = management.rotate_key(management.CLI_ACTOR, args.id, args.grace_ms)
        out = management.describe(item, with_secrets=True)
        out["api_key"] = plaintext  # printed once; store it now
        _print(out)
        return 0
    raise SystemExit(f"unknown command {args.command} {getattr(args, 'action', '')}")
