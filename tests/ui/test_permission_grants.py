"""The permissions tab's reading of an ACL, and where the API's refusals land on its form."""

from __future__ import annotations

from servegate.ui.permissions import Grant, GrantForm, grants_of


def test_an_acl_becomes_one_grant_per_principal_and_level() -> None:
    acl = {
        "access_control_list": [
            {
                "user_name": "admin",
                "all_permissions": [
                    {
                        "permission_level": "CAN_MANAGE",
                        "inherited": True,
                        "inherited_from_object": ["/serving-endpoints/"],
                    }
                ],
            },
            {
                "group_name": "analysts",
                "all_permissions": [{"permission_level": "CAN_QUERY", "inherited": False}],
            },
            {
                "service_principal_name": "batch",
                "all_permissions": [{"permission_level": "CAN_VIEW", "inherited": False}],
            },
        ]
    }
    assert grants_of(acl) == [
        Grant("user_name", "admin", "CAN_MANAGE", ("/serving-endpoints/",)),
        Grant("group_name", "analysts", "CAN_QUERY"),
        Grant("service_principal_name", "batch", "CAN_VIEW"),
    ]


def test_refusals_land_next_to_the_field_they_name() -> None:
    cases = {
        "No user named 'nobody'.": "principal",
        "No group named 'x'.": "principal",
        "permission_level 'CAN_FLY' is not one of CAN_VIEW, CAN_QUERY, CAN_MANAGE.": "level",
        "The caller lacks CAN_MANAGE on endpoint 'e'.": "general",
    }
    for message, field in cases.items():
        form = GrantForm()
        form.place(message)
        assert list(form.errors) == [field], message
