"""Who is an admin: the allow-list rules checked against an ID token's claims. PURE: no Flask, no database.

Any rule that matches admits: an email address (``ADMIN_EMAILS``), an email domain (``ADMIN_DOMAINS``), a value of
the ``groups`` claim (``ADMIN_GROUPS``; Entra sends group object ids) or of the ``roles`` claim (``ADMIN_ROLES``;
Entra app roles). With no rules at all nobody is an admin. Emails and domains compare case-insensitively, and so
do groups and roles (Entra's ids are GUIDs, whose case varies between tools).
"""
from __future__ import annotations

from dataclasses import dataclass, field


def split(text) -> list[str]:
    """A comma- (or newline-) separated setting as a clean list."""
    if isinstance(text, (list, tuple)):
        items = text
    else:
        items = str(text or "").replace("\n", ",").split(",")
    return [i.strip() for i in items if str(i).strip()]


@dataclass(frozen=True)
class Rules:
    """The admin allow-list."""

    emails: frozenset = field(default_factory=frozenset)
    domains: frozenset = field(default_factory=frozenset)
    groups: frozenset = field(default_factory=frozenset)
    roles: frozenset = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings) -> "Rules":
        """Rules from the ADMIN_* settings (strings or lists)."""
        return cls(frozenset(e.lower() for e in split(settings["ADMIN_EMAILS"])),
                   frozenset(d.lower().lstrip("@") for d in split(settings["ADMIN_DOMAINS"])),
                   frozenset(g.lower() for g in split(settings["ADMIN_GROUPS"])),
                   frozenset(r.lower() for r in split(settings["ADMIN_ROLES"])))

    @property
    def empty(self) -> bool:
        """No rule at all (nobody can be admitted)."""
        return not (self.emails or self.domains or self.groups or self.roles)


@dataclass(frozen=True)
class Decision:
    """Whether the claims admit an admin, by which rule, and which claims were looked at."""

    admitted: bool
    matched: str | None
    checked: tuple


def email_of(claims: dict) -> str | None:
    """The person's email: ``email``, else Entra's ``preferred_username``/``upn`` when it looks like one."""
    for key in ("email", "preferred_username", "upn"):
        value = claims.get(key)
        if isinstance(value, str) and "@" in value:
            return value.strip()
    return None


def _values(claims: dict, key: str) -> set[str]:
    value = claims.get(key)
    if isinstance(value, str):
        value = [value]
    return {str(v).strip().lower() for v in value or [] if str(v).strip()}


def decide(rules: Rules, claims: dict) -> Decision:
    """Check the claims against the rules; the first matching rule admits."""
    checked = []
    email = (email_of(claims) or "").lower()
    if rules.emails:
        checked.append("email")
        if email and email in rules.emails:
            return Decision(True, f"email {email}", tuple(checked))
    if rules.domains:
        checked.append("email domain")
        domain = email.rsplit("@", 1)[-1] if "@" in email else ""
        if domain and domain in rules.domains:
            return Decision(True, f"email domain {domain}", tuple(checked))
    if rules.groups:
        checked.append("groups")
        hit = sorted(_values(claims, "groups") & rules.groups)
        if hit:
            return Decision(True, f"group {hit[0]}", tuple(checked))
    if rules.roles:
        checked.append("roles")
        hit = sorted(_values(claims, "roles") & rules.roles)
        if hit:
            return Decision(True, f"role {hit[0]}", tuple(checked))
    return Decision(False, None, tuple(checked))
