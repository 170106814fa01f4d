"""Where the pipeline keeps things: the object store and its keys, the pointers, the night's
changes, the DynamoDB items, the OpenSearch index (build, checks, atomic swap)."""
