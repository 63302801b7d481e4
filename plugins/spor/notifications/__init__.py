"""Notifications by e-mail: removal requests to UCR today, alerts to the team later.

``setting`` reads the site's one e-mail setting (the Airflow Variable ``spor_removal_notifier``)
and is cheap to import. ``email`` holds :class:`~spor.notifications.mail.SporEmailNotifier`, an
Airflow notifier built on the smtp provider's; it imports the provider, so import it inside the
function that sends.
"""
