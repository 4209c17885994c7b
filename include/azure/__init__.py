"""Azure as a provider (`provider.py`: the object the DAG names): export settings, discovery by run manifest,
readers, the Blob storage sensor, Azure Storage's errors, and the sample-data generator."""
