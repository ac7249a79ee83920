"""Forms of the admin pages (all CSRF-protected by Flask-WTF)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp


class TokenForm(FlaskForm):
    """Name (and optional lifetime) of a new SCIM token."""

    name = StringField("Token name", validators=[
        DataRequired(), Length(max=100),
        Regexp(r".*\D", message="Use at least one letter: an all-digit name would read as a token id.")],
        description="Say where it goes, e.g. “Entra ID production”.")
    expires_days = IntegerField("Expires after (days)", validators=[Optional(), NumberRange(1, 3650)],
                                description="Leave empty for a token that does not expire.")


class ConfirmForm(FlaskForm):
    """A button that only confirms (its CSRF token is the point)."""


class AdminRulesForm(FlaskForm):
    """Who is an admin, and the scopes asked for at sign-in."""

    scopes = StringField("Scopes", validators=[Optional(), Length(max=500)])
    admin_emails = TextAreaField("Admin email addresses", validators=[Optional(), Length(max=5000)])
    admin_domains = TextAreaField("Admin email domains", validators=[Optional(), Length(max=5000)])
    admin_groups = TextAreaField("Admin groups (values of the groups claim)", validators=[Optional(), Length(max=5000)])
    admin_roles = TextAreaField("Admin roles (values of the roles claim)", validators=[Optional(), Length(max=5000)])
