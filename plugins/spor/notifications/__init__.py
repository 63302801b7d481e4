"""Notifications: removal requests to UCR by e-mail, and alerts to the team (docs/alerts.md).

``setting`` reads the site's one notification setting (the Airflow Variable ``spor_notifications``)
and is cheap to import. ``email`` holds :class:`~spor.notifications.mail.SporEmailNotifier`, an
Airflow notifier built on the smtp provider's; it imports the provider, so import it inside the
function that sends.
"""
