"""Clients for third-party services adsvc talks to besides Meta (n8n)."""
