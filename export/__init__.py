"""edgedigits.export: turning a trained model into deployable artifacts."""
