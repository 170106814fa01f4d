"""SageMaker jobs run locally with the same artifacts.

``LocalRunner`` takes the request dicts of ``job_requests`` and returns dicts shaped like
DescribeProcessingJob / DescribeTrainingJob / DescribeTransformJob, so everything downstream is
one path: it lays out SageMaker's ``/opt/ml`` folders, runs the job's entry point in a
subprocess (a Processing job's from its code input, the others from ``include/jobs/``), and
writes outputs, model.tar.gz and ``.out`` files where SageMaker would. ``runner_for`` picks it
or ``jobs.SageMakerRunner``, as ``CATALOG_SEARCH_RUNNER`` says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from catalog_search.sagemaker.job_requests import PROCESSING_ROOT
from catalog_search.sagemaker.jobs import JobFailed, Runner, SageMakerRunner
from catalog_search.settings import POOLED_OUTPUTS
from catalog_search.store.object_store import ObjectStore

METRIC_LINE = re.compile(r"^#metric (?P<name>[\w:]+)=(?P<value>[-+0-9.eE]+|nan|inf)$", re.MULTILINE)


class LocalRunner:
    """Runs the job entry points of ``jobs_dir`` (the project's include/jobs/) in subprocesses."""

    def __init__(self, s3: Any, sagemaker: Any, work_dir: Path, jobs_dir: Path, python: str = sys.executable,
                 pooled_output: str = POOLED_OUTPUTS[0]):
        self.s3, self.sagemaker, self.work_dir, self.python = s3, sagemaker, Path(work_dir), python
        self.jobs_dir, self.pooled_output = Path(jobs_dir), pooled_output

    @classmethod
    def for_clients(cls, clients) -> LocalRunner:
        settings = clients.settings
        return cls(clients.s3, clients.sagemaker, settings.work_dir, settings.include_dir / "jobs",
                   pooled_output=settings.local_pooled_output)

    def _store(self, uri: str) -> tuple[ObjectStore, str]:
        return ObjectStore.at(self.s3, uri)

    def _job_dir(self, name: str) -> Path:
        path = self.work_dir / "sagemaker" / name
        shutil.rmtree(path, ignore_errors=True)  # a re-run starts from the same empty folders
        path.mkdir(parents=True)
        return path

    def _run(self, script: str, args: list[str], log_path: Path) -> str:
        return self._run_command([self.python, str(self.jobs_dir / script), *args], log_path)

    def _run_command(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, env=None if env is None else {**os.environ, **env})
        log_path.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise JobFailed(f"{Path(argv[1]).name} exited with {proc.returncode}; log {log_path}; last lines:\n{tail}")
        return proc.stdout

    def process(self, config: dict) -> dict:
        """A Processing job: its inputs downloaded where the container would see them, its entry
        point (from the code input, with the container's environment) run on them, its output
        folder uploaded; container paths in the command become paths under the job's folder."""
        name = config["ProcessingJobName"]
        root = self._job_dir(name)

        def local(path: str) -> str:
            return str(root / Path(path).relative_to(PROCESSING_ROOT)) if path.startswith(PROCESSING_ROOT) else path

        for item in config["ProcessingInputs"]:
            store, prefix = self._store(item["S3Input"]["S3Uri"])
            store.download_prefix(prefix, Path(local(item["S3Input"]["LocalPath"])))
        outputs = config["ProcessingOutputConfig"]["Outputs"]
        for output in outputs:
            Path(local(output["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
        app = config["AppSpecification"]
        _interpreter, *command = app["ContainerEntrypoint"] + app.get("ContainerArguments", [])
        environment = {k: ":".join(local(p) for p in v.split(":")) for k, v in config.get("Environment", {}).items()}
        self._run_command([self.python, *map(local, command)], root / "processing.log", environment)
        for output in outputs:
            store, prefix = self._store(output["S3Output"]["S3Uri"].rstrip("/") + "/")
            store.upload_dir(Path(local(output["S3Output"]["LocalPath"])), prefix)
        return {"ProcessingJobName": name, "ProcessingJobStatus": "Completed", "ProcessingInputs": config["ProcessingInputs"],
                "ProcessingOutputConfig": config["ProcessingOutputConfig"], "ProcessingResources": config["ProcessingResources"],
                "AppSpecification": app}

    def train(self, config: dict) -> dict:
        name = config["TrainingJobName"]
        ml = self._job_dir(name)
        (ml / "input/config").mkdir(parents=True)
        (ml / "input/config/hyperparameters.json").write_text(json.dumps(config["HyperParameters"]))
        for channel in config["InputDataConfig"]:
            store, prefix = self._store(channel["DataSource"]["S3DataSource"]["S3Uri"])
            store.download_prefix(prefix, ml / "input/data" / channel["ChannelName"])
        stdout = self._run("object2vec_train.py", ["--ml-root", str(ml), "--pooled-output", self.pooled_output], ml / "training.log")
        metrics = [{"MetricName": m["name"], "Value": float(m["value"])} for m in METRIC_LINE.finditer(stdout)]
        # SageMaker's own naming of training output, whatever the bucket layout; with our request
        # it is ObjectKeys.model_artifact(name) (checked by the stage tests).
        store, prefix = self._store(config["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{name}/output/")
        tarball = ml / "output/model.tar.gz"
        tarball.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball, "w:gz") as tar:
            for path in sorted((ml / "model").iterdir()):
                tar.add(path, arcname=path.name)
        store.upload_file(tarball, prefix + "model.tar.gz")
        return {
            "TrainingJobName": name,
            "TrainingJobStatus": "Completed",
            "HyperParameters": config["HyperParameters"],
            "ResourceConfig": config["ResourceConfig"],
            "ModelArtifacts": {"S3ModelArtifacts": store.uri(prefix + "model.tar.gz")},
            "FinalMetricDataList": metrics,
        }

    def transform(self, config: dict) -> dict:
        name = config["TransformJobName"]
        job = self._job_dir(name)
        model_url = self.sagemaker.describe_model(ModelName=config["ModelName"])["PrimaryContainer"]["ModelDataUrl"]
        model_store, model_key = self._store(model_url)
        (job / "model.tar.gz").write_bytes(model_store.get_bytes(model_key))
        in_store, in_prefix = self._store(config["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"])
        inputs = in_store.download_prefix(in_prefix, job / "input")
        out_store, out_prefix = self._store(config["TransformOutput"]["S3OutputPath"].rstrip("/") + "/")

        def transform_file(path: Path) -> None:
            output = job / "output" / (path.name + ".out")  # SageMaker's naming of batch outputs
            self._run(
                "object2vec_transform.py",
                ["--model", str(job / "model.tar.gz"), "--input", str(path), "--output", str(output)],
                job / f"{path.name}.log",
            )
            rel = path.relative_to(job / "input").as_posix()
            out_store.upload_file(output, f"{out_prefix}{rel}.out")

        # The input files in parallel, one process per core, as SageMaker spreads them over instances.
        with ThreadPoolExecutor(max_workers=max(1, min(len(inputs), os.cpu_count() or 1))) as pool:
            list(pool.map(transform_file, inputs))
        return {"TransformJobName": name, "TransformJobStatus": "Completed", "TransformOutput": config["TransformOutput"],
                "TransformResources": config["TransformResources"]}


def runner_for(clients) -> Runner:
    """The local runner or SageMaker, as ``CATALOG_SEARCH_RUNNER`` says; same requests, same artifacts."""
    settings = clients.settings
    if settings.runner == "local":
        return LocalRunner.for_clients(clients)
    return SageMakerRunner(clients.sagemaker_hook)
