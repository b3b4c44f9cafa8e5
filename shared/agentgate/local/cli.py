"""The `agentgate` command: the local gateway and the operator's key tools.

    agentgate dev [--host 127.0.0.1] [--port 9527] [--template template.yaml] [--store auto|embedded|aws]
                  [--data-dir .agentgate/data | --ephemeral] [--quiet]
    agentgate keys create --name NAME [--owner OWNER] [--scopes chat read] [--expire-ms N]
                          [--key VALUE [--allow-weak]]
    agentgate keys list [--owner OWNER] [--page 1 --size 20]
    agentgate keys revoke --id KEY_ID [--api-id REST_API_ID --stage STAGE]
    agentgate keys update|rotate ..., agentgate config apply FILE, agentgate usage   (local/policy_cli.py)
    agentgate workflows apply FILE [--publish] [--base-url URL --key KEY]
    agentgate workflows secret set --owner OWNER NAME VALUE   (a secret http nodes reference)
    agentgate stub-upstream [--port 8808]   (a local OpenAI-compatible model for tests and benchmarks)
    agentgate check-build [--build-dir .aws-sam/build]   (before `sam deploy`: layers have 3.13 bytecode)

Operator commands find the service by themselves (agentgate.local.operator): in the directory of
a running `agentgate dev` they use its API and root key (`.agentgate/dev.json`); `--base-url URL
--admin-key KEY` (or AGENTGATE_BASE_URL / AGENTGATE_ADMIN_KEY) name a deployment's API; with
neither they write straight into the configured table (AGENTGATE_KEYS_TABLE, AWS credentials and
region from the environment; AGENTGATE_DYNAMODB_ENDPOINT for a local endpoint), to bootstrap a
real deployment's first key.

`--expire-ms`: 0 never; below 10^12 a lifetime in ms; from 10^12 an expiry as a ms timestamp.
`--key VALUE` registers an operator-chosen key (seeds 000/003) instead of a generated one; it is
stored as its MD5 like every key; below 16 characters it is refused unless `--allow-weak`.
"""

from __future__ import annotations

import argparse
import json
import sys

from agentgate.local import policy_cli

PAT = "/api/permission_api/pat"


def _keys_via_api(conn, args) -> int:
    if args.action == "create":
        body = {"name": args.name, "expire": args.expire_ms, "scopes": args.scopes or None, "owner_id": args.owner,
                **policy_cli.policy_body(args)}
        if args.key is not None:
            body.update(api_key=args.key, allow_weak=args.allow_weak)
        answer = conn.call("POST", f"{PAT}/create_personal_access_token_and_permission",
                           json_body={k: v for k, v in body.items() if v is not None})
        out = dict(answer.get("data") or answer)
        for warning in out.pop("warnings", None) or []:
            print(f"warning: {warning}", file=sys.stderr)
        print(json.dumps(out, indent=2))
    elif args.action == "list":
        answer = conn.call("GET", f"{PAT}/list_personal_access_tokens",
                           params={"page": args.page, "size": args.size, "owner_id": args.owner})
        data = answer.get("data") or answer
        print(json.dumps({"api_keys": data["api_keys"], "total": data["total"]}, indent=2))
    elif args.action == "revoke":
        conn.call("POST", f"{PAT}/delete_personal_access_token_and_permission", json_body={"id": args.id})
        print(json.dumps({"id": args.id, "deleted": True}))
    return 0


def _keys_in_table(args) -> int:
    from agentgate.auth import management

    actor = management.CLI_ACTOR
    if args.action == "create":
        if args.key is not None:
            for warning in management.check_chosen_key(args.key, args.allow_weak):
                print(f"warning: {warning}", file=sys.stderr)
        item, plaintext = management.create_key(
            actor, args.name, args.expire_ms, args.scopes or None, args.owner, chosen=args.key,
            allow_weak=args.allow_weak, policy=management.KeyPolicy.from_values(policy_cli.policy_body(args)))
        out = management.describe(item)
        out["api_key"] = plaintext  # printed once; store it now
        print(json.dumps(out, indent=2))
    elif args.action == "list":
        items, total = management.list_keys(actor, args.page, args.size, args.owner)
        print(json.dumps({"api_keys": [management.describe(i) for i in items], "total": total}, indent=2))
    elif args.action == "revoke":
        item = management.delete_key(actor, args.id)
        out = {"id": item.id, "deleted": True}
        if args.api_id and args.stage:
            from agentgate.auth import cache as authorizer_cache

            failure = authorizer_cache.flush_stage(args.api_id, args.stage)
            out["authorizer_cache"] = "flushed" if failure is None else f"flush failed ({failure})"
        else:
            failure = "not flushed"
            out["authorizer_cache"] = "not flushed (no --api-id/--stage)"
        if failure is not None:
            from agentgate.auth.cache import DEFAULT_TTL_S

            out["cached_for_up_to_s"] = DEFAULT_TTL_S
            print(f"warning: a deployed stage's authorizer cache may still accept this key for up to "
                  f"its AuthorizerCacheSeconds ({DEFAULT_TTL_S} s by default); pass --api-id and --stage "
                  f"to flush it now (needs apigateway:DELETE on the stage's authorizer cache)",
                  file=sys.stderr)
        print(json.dumps(out))
    return 0


def _keys(args) -> int:
    from agentgate.auth import management
    from agentgate.auth.scopes import ALL
    from agentgate.local import operator

    scopes = getattr(args, "scopes", None)
    if scopes and any(s not in ALL for s in scopes):
        print(f"unknown scope; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    try:
        conn = operator.connect(args)
        if conn is not None:
            print(f"using {conn.base_url} (from {conn.source})", file=sys.stderr)
        if args.command != "keys" or args.action in ("update", "rotate"):
            return policy_cli.run(args, conn)
        if conn is not None:
            return _keys_via_api(conn, args)
        return _keys_in_table(args)
    except management.KeyRuleError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    except operator.OperatorError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as err:  # an unreadable file, a bad day, a YAML error
        print(f"error: {err}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentgate", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="serve every route of template.yaml on one port")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=9527)
    dev.add_argument("--template", default="template.yaml")
    dev.add_argument("--store", choices=["auto", "embedded", "aws"], default="auto",
                     help="embedded moto (default unless AWS endpoints/credentials are configured) or AWS")
    dev.add_argument("--quiet", action="store_true", help="no access-log line per request")
    keep = dev.add_mutually_exclusive_group()
    keep.add_argument("--data-dir", default=None, metavar="DIR",
                      help="where the embedded store keeps its tables and files (default: .agentgate/data)")
    keep.add_argument("--ephemeral", action="store_true",
                      help="keep the embedded store in memory only: nothing survives the run, nothing is written")

    from agentgate.local import operator

    keys = sub.add_parser("keys", help="manage personal access tokens (through the API, or in the table)")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    create = keys_sub.add_parser("create")
    create.add_argument("--owner", default=None, help="the key's owner (default: the operator key's own)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", nargs="*", default=None, help="root admin chat read (default: chat)")
    create.add_argument("--expire-ms", type=int, default=0,
                        help="0 = never; < 10^12: lifetime in ms; >= 10^12: expiry as a ms timestamp")
    create.add_argument("--key", default=None, metavar="VALUE",
                        help="register this chosen key instead of a generated one (stored as its MD5)")
    create.add_argument("--allow-weak", action="store_true", help="accept a chosen key under 16 characters")
    policy_cli.add_policy_arguments(create)
    listing = keys_sub.add_parser("list")
    listing.add_argument("--owner", default=None)
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--size", type=int, default=20)
    revoke = keys_sub.add_parser("revoke")
    revoke.add_argument("--id", required=True)
    revoke.add_argument("--api-id", default=None, help="REST API id of a deployed stage whose authorizer cache to flush")
    revoke.add_argument("--stage", default=None, help="that stage's name (template parameter StageName)")

    for action in (create, listing, revoke):
        operator.add_arguments(action)
    policy_cli.add_parsers(sub, keys_sub, operator)

    workflows = sub.add_parser("workflows", help="apply workflow definitions to a running gateway")
    wf_sub = workflows.add_subparsers(dest="action", required=True)
    apply_cmd = wf_sub.add_parser("apply", help="create or update a workflow from a JSON/YAML file")
    apply_cmd.add_argument("file")
    apply_cmd.add_argument("--publish", action="store_true", help="publish the new draft as the next version")
    apply_cmd.add_argument("--base-url", default=None, help="default: AGENTGATE_BASE_URL or .agentgate/dev.json")
    apply_cmd.add_argument("--key", default=None, help="default: AGENTGATE_API_KEY or .agentgate/dev.json")
    secret_cmd = wf_sub.add_parser("secret", help="set a secret for {{secrets.NAME}} (SSM SecureString)")
    secret_cmd.add_argument("op", choices=["set"])
    secret_cmd.add_argument("--owner", required=True)
    secret_cmd.add_argument("name")
    secret_cmd.add_argument("value")

    stub = sub.add_parser("stub-upstream", help="a local OpenAI-compatible model (tests, benchmarks)")
    stub.add_argument("--host", default="127.0.0.1")
    stub.add_argument("--port", type=int, default=8808)

    check = sub.add_parser("check-build", help="before sam deploy: every layer ships Python 3.13 bytecode")
    check.add_argument("--build-dir", default=".aws-sam/build")

    args = parser.parse_args(argv)
    if args.command == "check-build":
        from agentgate.local import buildcheck

        return buildcheck.main(args.build_dir)
    if args.command == "dev":
        from agentgate.local.devserver import serve

        return serve(args.host, args.port, args.template, args.store, data_dir=args.data_dir,
                     ephemeral=args.ephemeral, quiet=args.quiet)
    if args.command in ("keys", "config", "usage"):
        return _keys(args)
    if args.command == "workflows":
        if args.action == "apply":
            from agentgate.local.workflows_cli import apply

            return apply(args.file, args.publish, args.base_url, args.key)
        from agentgate.workflows import secrets

        secrets.put(args.owner, args.name, args.value)
        print(json.dumps({"owner": args.owner, "secret": args.name, "set": True}))
        return 0
    if args.command == "stub-upstream":
        from agentgate.local import stub_upstream

        return stub_upstream.main(["--host", args.host, "--port", str(args.port)])
    return 2


if __name__ == "__main__":
    sys.exit(main())
