"""The web app for people: sign-in, dashboards, drill-down, the suggestions inbox, rules and actions."""
