"""Page blueprints, one per user group."""
