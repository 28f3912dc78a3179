"""Everything ``./run_local.sh`` needs: a local DynamoDB-compatible server,
sample works (some malformed on purpose), seeding, and the local run itself."""
