# One entry point for developer commands; each target is a script under scripts/.
.PHONY: demo night test setup up down status airflow-start airflow-stop serve lock bench docs processing-image processing-image-push
SHELL := /bin/bash

demo:            ## the main job end to end on the local stack (setup included)
	bash scripts/demo.sh
night:           ## one more night on the running demo stack: a simulated refresh, enrichment, publish
	bash scripts/night.sh
test:            ## every test (starts the local services if needed)
	bash scripts/test.sh
setup:           ## .venv/ from the pinned locks, project installed editable
	bash scripts/setup.sh
up:              ## start OpenSearch (k-NN) and moto on 127.0.0.1
	bash scripts/services.sh up
down:            ## stop the services, Airflow and the search API
	bash scripts/api.sh stop
	bash scripts/airflow.sh stop
	bash scripts/services.sh down
status:
	bash scripts/services.sh status
airflow-start:   ## airflow standalone: UI on http://127.0.0.1:8080
	bash scripts/airflow.sh start
airflow-stop:
	bash scripts/airflow.sh stop
serve:           ## the search page and HTTP API on http://127.0.0.1:8000 (background; stop: make down)
	bash scripts/api.sh start
processing-image:       ## the SageMaker Processing jobs' image (needs Docker)
	bash scripts/processing_image.sh build
processing-image-push:  ## build it and push it to ECR; prints CATALOG_SEARCH_PROCESSING_IMAGE (needs Docker, AWS)
	bash scripts/processing_image.sh push
docs:            ## docs/settings.md from the Settings fields (a test fails when it is stale)
	source scripts/env.sh && cd "$$CS_ROOT" && catalog-search settings > docs/settings.md
lock:            ## recompile the pinned locks after editing requirements*.in
	source scripts/env.sh && cd "$$CS_ROOT" && \
	uv pip compile -q --python-version 3.11 requirements.in -o requirements.txt && \
	uv pip compile -q --python-version 3.11 requirements-dev.in -o requirements-dev.txt && \
	uv pip compile -q --python-version 3.11 requirements-trainer.in -o requirements-trainer.txt
bench:           ## every benchmark the demo stack can run, each printing the figures docs/benchmarks.md shows
	bash scripts/bench.sh
