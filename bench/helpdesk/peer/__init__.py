"""A minimal Django project hosting django-helpdesk 2.6 for the benchmark (runs in its own virtualenv)."""
