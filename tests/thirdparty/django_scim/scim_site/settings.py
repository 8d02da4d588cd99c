"""A minimal Django project serving django-scim2 (PyPI), unmodified, for tests/thirdparty/test_django_scim.py.

Configured from the environment by the test fixture: SCIM_DB (the sqlite file, in a temp dir), SCIM_PORT
(the loopback port, for the locations django-scim2 writes) and SCIM_TOKEN (the bearer token accepted).
"""

import os

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "scim_site.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_scim",
    "scim_site",
]

MIDDLEWARE = [
    "scim_site.auth.RequestLog",
    "scim_site.auth.BearerTokenMiddleware",
    "django_scim.middleware.SCIMAuthCheckMiddleware",
]

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

AUTH_USER_MODEL = "scim_site.User"

SCIM_SERVICE_PROVIDER = {
    "SCHEME": "http",
    "NETLOC": f"127.0.0.1:{os.environ.get('SCIM_PORT', '80')}",
    "GROUP_MODEL": "scim_site.models.Group",
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
        }
    ],
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="django-scim2"',
}

LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
