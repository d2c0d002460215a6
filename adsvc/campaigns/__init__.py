"""Campaigns, their insights, and the older service's metrics endpoints."""
