"""Collection: turning Graph API reads into stored rows (records, SQL, and the sync plan)."""
