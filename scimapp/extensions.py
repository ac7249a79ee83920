"""Extension singletons, created unbound here and bound to the app in ``create_app``."""
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for every model."""


# Objects keep their loaded values after commit: a response is built from what was just written, with no
# reload that could race a concurrent delete (or cost a query).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
login_manager = LoginManager()
migrate = Migrate()
csrf = CSRFProtect()
