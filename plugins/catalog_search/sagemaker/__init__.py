"""SageMaker: the job requests, the provider's operators taught to re-attach, the local runner and
the SageMaker one, the Model Registry, the query endpoint, batch embeddings of fixed texts."""
