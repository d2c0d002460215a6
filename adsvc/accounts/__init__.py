"""Ad accounts: connecting them, who may see them, and their sync runs."""
