"""AWS as a provider (`provider.py`: the object the DAG names): export settings, discovery by manifest,
column naming, readers, the S3 sensor, S3's errors, and the sample-data generator."""
