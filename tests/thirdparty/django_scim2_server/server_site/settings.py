"""A minimal Django project serving django-scim2-server (PyPI), unmodified, for
tests/thirdparty/test_django_scim2_server.py.

Configured from the environment by the test fixture: SCIM_DB (the sqlite file, in a temp dir) and SCIM_TOKEN
(the bearer token the access check accepts).
"""

import os

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "server_site.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_scim2_server",
]

MIDDLEWARE = ["server_site.auth.RequestLog"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["SCIM_DB"],
        # The runserver threads write concurrently: each transaction takes the write lock when it begins and
        # waits for it (a deferred one that must upgrade fails at once with "database is locked": a 500), and
        # WAL lets the tests read the tables beside the writers.
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL",
        },
    }
}

# The package's access check is a setting: ours compares the bearer token (its default asks for a superuser).
SCIM2_SERVER_AUTH_CHECK = "server_site.auth.bearer_token"

LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
