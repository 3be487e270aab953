"""Helpers of the Kefu vs django-helpdesk benchmark: loaders, the peer project, the timing wrapper, the load
generator. Run through bench/helpdesk_compare.py."""
