"""adsvc: a self-hosted, fully asynchronous service for running Meta Ads accounts."""

__version__ = "0.1.0"
