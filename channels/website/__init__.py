"""Unit websites: ``cms`` (REST adapter, channels.website.cms) and ``static`` (export, channels.website.static).

Nothing is imported here, so loading one does not load the other; the registry names the modules directly.
"""
