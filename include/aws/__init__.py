"""AWS billing exports: manifests, column naming, sample data."""
