"""Forms of the monitoring pages (CSRF-protected by Flask-WTF)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange


class ActivitySettingsForm(FlaskForm):
    """Body capture for failed requests, and how long activity is kept."""

    capture_error_bodies = BooleanField(
        "Keep the request body of failed requests",
        description="Helps find why a request failed. Bodies hold personal data (names, e-mail addresses, phone "
                    "numbers): keep this off unless you are looking into a problem.")
    retention_days = IntegerField(
        "Keep activity for (days)", validators=[InputRequired(message="Enter a number of days from 1 to 365."),
                                                NumberRange(1, 365, message="Enter a number of days from 1 to 365.")],
        description="Older activity (and any captured bodies) is deleted automatically, about once an hour.")


class PurgeForm(FlaskForm):
    """The typed confirmation of a clean-up: the token's name."""

    confirm = StringField("Type the token's name to confirm", validators=[InputRequired(), Length(max=100)])
