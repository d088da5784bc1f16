"""``servegate users|groups|tokens|permissions``: who may do what."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from servegate.cli.app import app
from servegate.cli.connection import HomeOption, TokenOption, UrlOption, console, with_client
from servegate.cli.output import JsonFlag, Output, OutputOption, emit, table_of
from servegate.client import ServegateClient

users_app = typer.Typer(help="Users (SCIM).")
groups_app = typer.Typer(help="Groups and their members (SCIM).")
tokens_app = typer.Typer(help="Personal access tokens.")
permissions_app = typer.Typer(help="Who may view, query or manage a serving endpoint.")
app.add_typer(users_app, name="users")
app.add_typer(groups_app, name="groups")
app.add_typer(tokens_app, name="tokens")
app.add_typer(permissions_app, name="permissions")

CREATE_ENDPOINTS = "allow-cluster-create"


def _table(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    console.print(table_of(columns, rows))


@users_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="userName, e.g. an e-mail address.")],
    can_create_endpoints: Annotated[
        bool, typer.Option(help="Grant the entitlement to create serving endpoints.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Add a user."""
    body: dict[str, Any] = {"userName": name}
    if can_create_endpoints:
        body["entitlements"] = [{"value": CREATE_ENDPOINTS}]
    user = with_client(url, token, home, lambda c: c.create_principal("Users", body))
    console.print(f"Created user {user['userName']} (id {user['id']}).")


@users_app.command("list")
def list_users(url: UrlOption = None, token: TokenOption = None, home: HomeOption = None) -> None:
    """Every user, with entitlements and whether active."""
    users = with_client(url, token, home, lambda c: c.list_principals("Users"))
    _table(
        ("id", "userName", "active", "entitlements"),
        [
            (u["id"], u["userName"], u["active"], ", ".join(e["value"] for e in u["entitlements"]))
            for u in users
        ],
    )


@users_app.command("deactivate")
def deactivate_user(
    name: str, url: UrlOption = None, token: TokenOption = None, home: HomeOption = None
) -> None:
    """Refuse every token of a user from now on."""

    def deactivate(client: ServegateClient) -> None:
        user = client.find_principal("Users", "userName", name)
        client.patch_principal(
            "Users", user["id"], [{"op": "replace", "path": "active", "value": False}]
        )

    with_client(url, token, home, deactivate)
    console.print(f"Deactivated {name}.")


@groups_app.command("create")
def create_group(
    name: str,
    member: Annotated[list[str] | None, typer.Option(help="userName of a member (repeat).")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Add a group, optionally with members."""

    def create(client: ServegateClient) -> dict[str, Any]:
        ids = [client.find_principal("Users", "userName", m)["id"] for m in member or []]
        return client.create_principal(
            "Groups", {"displayName": name, "members": [{"value": i} for i in ids]}
        )

    group = with_client(url, token, home, create)
    console.print(f"Created group {group['displayName']} (id {group['id']}).")


def _change_membership(
    group: str, user: str, op: str, url: str | None, token: str | None, home: Any
) -> None:
    def change(client: ServegateClient) -> None:
        group_id = client.find_principal("Groups", "displayName", group)["id"]
        user_id = client.find_principal("Users", "userName", user)["id"]
        client.patch_principal(
            "Groups", group_id, [{"op": op, "path": "members", "value": [{"value": user_id}]}]
        )

    with_client(url, token, home, change)


@groups_app.command("add-member")
def add_member(
    group: str, user: str, url: UrlOption = None, token: TokenOption = None, home: HomeOption = None
) -> None:
    """Add a user to a group (takes effect at once)."""
    _change_membership(group, user, "add", url, token, home)
    console.print(f"Added {user} to {group}.")


@groups_app.command("remove-member")
def remove_member(
    group: str, user: str, url: UrlOption = None, token: TokenOption = None, home: HomeOption = None
) -> None:
    """Remove a user from a group (takes effect at once)."""
    _change_membership(group, user, "remove", url, token, home)
    console.print(f"Removed {user} from {group}.")


@tokens_app.command("create")
def create_token(
    for_user: Annotated[
        str | None, typer.Option("--for", help="Another user's userName (admin).")
    ] = None,
    lifetime: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
    comment: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Create a token; its value is printed once and never again."""
    created = with_client(
        url,
        token,
        home,
        lambda c: c.create_token(user_name=for_user, lifetime_seconds=lifetime, comment=comment),
    )
    typer.echo(created["token_value"])


@tokens_app.command("list")
def list_tokens(
    every_owner: Annotated[
        bool, typer.Option("--all", help="Every owner's tokens (admin).")
    ] = False,
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Tokens (never their values): id, comment, created, expires, last used."""
    infos = with_client(url, token, home, lambda c: c.list_tokens(every_owner=every_owner))
    emit(
        infos,
        output,
        as_json,
        lambda found: table_of(
            ("token_id", "comment", "created", "expires", "last used", "owner"),
            [
                (
                    i["token_id"],
                    i["comment"],
                    i["creation_time"],
                    i["expiry_time"],
                    i.get("last_used_time", ""),
                    i.get("owner_id", ""),
                )
                for i in infos
            ],
        ),
    )


@tokens_app.command("revoke")
def revoke_token(
    token_id: str,
    any_owner: Annotated[
        bool, typer.Option("--any-owner", help="Revoke another's (admin).")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Revoke a token: it is refused from the next request on."""
    with_client(url, token, home, lambda c: c.revoke_token(token_id, any_owner=any_owner))
    console.print(f"Revoked {token_id}.")


@permissions_app.command("grant")
def grant(
    endpoint: str,
    level: Annotated[str, typer.Option(help="CAN_VIEW, CAN_QUERY or CAN_MANAGE.")],
    user: Annotated[str | None, typer.Option(help="A userName.")] = None,
    group: Annotated[str | None, typer.Option(help="A group's displayName.")] = None,
    service_principal: Annotated[str | None, typer.Option(help="An applicationId.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Grant a level on an endpoint to one user, group or service principal."""
    entry = {
        key: value
        for key, value in (
            ("user_name", user),
            ("group_name", group),
            ("service_principal_name", service_principal),
        )
        if value
    }
    entry["permission_level"] = level

    def apply(client: ServegateClient) -> None:
        client.grant(client.endpoint(endpoint)["id"], [entry])

    with_client(url, token, home, apply)
    console.print(f"Granted {level} on {endpoint}.")


@permissions_app.command("show")
def show(
    endpoint: str, url: UrlOption = None, token: TokenOption = None, home: HomeOption = None
) -> None:
    """Every grant on an endpoint."""
    acl = with_client(url, token, home, lambda c: c.permissions(c.endpoint(endpoint)["id"]))
    _table(
        ("principal", "level", "inherited"),
        [
            (
                entry.get("user_name")
                or entry.get("group_name")
                or entry.get("service_principal_name"),
                entry["all_permissions"][0]["permission_level"],
                entry["all_permissions"][0]["inherited"],
            )
            for entry in acl["access_control_list"]
        ],
    )


@app.command()
def audit(
    limit: Annotated[int, typer.Option(help="How many of the newest events.")] = 100,
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """The audit log (admins): every control-plane change and every refused request."""
    events = with_client(url, token, home, lambda c: c.audit_events(limit=limit))
    emit(
        events,
        output,
        as_json,
        lambda found: table_of(
            ("time (ms)", "principal", "request", "status", "from"),
            [
                (
                    e["timestamp"],
                    e["principal"] or "-",
                    f"{e['method']} {e['path']}",
                    e["status"],
                    e["client"] or "-",
                )
                for e in events
            ],
        ),
    )
