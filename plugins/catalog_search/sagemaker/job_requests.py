"""SageMaker job configs as plain dicts (the CreateProcessingJob / CreateTrainingJob /
CreateModel / CreateTransformJob request shapes), built in one place and run by either runner.

Every value that names an AWS resource comes from one place: the region from the
``aws_default`` connection (``Clients.region``), the images, the execution role and the job
limits from the settings. With the sagemaker runner, an unset role or Processing image is bad
input (one line naming the variable), never a stand-in sent to AWS.
"""

from __future__ import annotations

import math

from catalog_search.errors import BadInput
from catalog_search.settings import Settings
from catalog_search.store.object_store import ObjectStore

JSONLINES = "application/jsonlines"
TRAINING_CHANNELS = ("train", "validation", "test", "auxiliary")
LOCAL_ROLE = "arn:aws:iam::000000000000:role/catalog-search-local"  # moto's stand-in, local runner only
PROCESSING_ROOT = "/opt/ml/processing"
PROCESSING_OUTPUT = f"{PROCESSING_ROOT}/output"
PROCESSING_CODE = f"{PROCESSING_ROOT}/input/code"
# The image docker/processing.Dockerfile builds (`make processing-image`), under the name the
# local runner's requests carry; on AWS it is CATALOG_SEARCH_PROCESSING_IMAGE, the same image in ECR.
LOCAL_PROCESSING_IMAGE = "catalog-search-processing:latest"
# A job stopped at its MaxRuntimeInSeconds still takes minutes to stop, upload and report.
WAIT_MARGIN = 15 * 60
POLL_INTERVAL = 30  # seconds between status checks of a job (the provider's default)


def object2vec_image(region: str) -> str:
    from sagemaker.core import image_uris

    return image_uris.retrieve("object2vec", region)


def execution_role(settings: Settings) -> str:
    """The role SageMaker runs the jobs as: moto's stand-in for the local runner only."""
    return _required_on_aws(settings, settings.sagemaker_role_arn, "CATALOG_SEARCH_SAGEMAKER_ROLE_ARN", LOCAL_ROLE,
                            "the SageMaker execution role's ARN (the template's ExecutionRoleArn output, docs/aws.md)")


def processing_image(settings: Settings) -> str:
    """The Processing jobs' image: the project's own (docker/processing.Dockerfile), whose
    Python and packages are the locks' (SageMaker's framework images carry other versions)."""
    return _required_on_aws(settings, settings.processing_image, "CATALOG_SEARCH_PROCESSING_IMAGE", LOCAL_PROCESSING_IMAGE,
                            "the project's image for Processing jobs: build and push it with `make processing-image-push` "
                            "and set the URI it prints (docs/aws.md)")


def _required_on_aws(settings: Settings, value: str, variable: str, local: str, what: str) -> str:
    if value:
        return value
    if settings.runner == "sagemaker":
        raise BadInput(f"{variable} is not set: the sagemaker runner needs {what}")
    return local


def hyperparameter_values(settings: Settings, vocab_size: int, pretrained_dim: int | None = None) -> dict:
    """Object2Vec's hyperparameters, by its own names and meanings, typed."""
    params = {
        "enc0_network": settings.encoder_network,
        "enc0_vocab_size": vocab_size,
        "enc0_max_seq_len": settings.max_seq_len,
        "enc0_token_embedding_dim": settings.embedding_dim,
        "enc0_cnn_filter_width": settings.cnn_filter_width,
        "enc0_layers": settings.encoder_layers,
        "enc0_freeze_pretrained_embedding": "true" if settings.freeze_pretrained_embedding else "false",
        "enc0_vocab_file": "vocab.json",
        "enc_dim": settings.embedding_dim,
        "tied_token_embedding_weight": "true",
        "comparator_list": "hadamard, concat, abs_diff",
        "output_layer": "softmax",
        "mlp_dim": settings.mlp_dim,
        "mlp_layers": 1,
        "mlp_activation": "relu",
        "dropout": settings.dropout,
        "epochs": settings.epochs,
        "mini_batch_size": settings.mini_batch_size,
        "learning_rate": settings.learning_rate,
        "optimizer": "adam",
    }
    if pretrained_dim:  # the GloVe file of the auxiliary channel sets the token vectors' size
        params["enc0_pretrained_embedding_file"] = "embeddings.txt"
        params["enc0_token_embedding_dim"] = pretrained_dim
    return params


def object2vec_hyperparameters(settings: Settings, vocab_size: int, pretrained_dim: int | None = None) -> dict[str, str]:
    """As the training request carries them: SageMaker wants every value as a string."""
    return {k: str(v) for k, v in hyperparameter_values(settings, vocab_size, pretrained_dim).items()}


def processing_input(name: str) -> str:
    """Where a Processing job finds an S3 input inside its container: ``{root}/input/{name}/``
    holding the objects under the URI (a single object keeps its file name)."""
    return f"{PROCESSING_ROOT}/input/{name}"


def processing_job_config(settings: Settings, name: str, script: str, code_uri: str, inputs: dict[str, str],
                          output_uri: str | dict[str, str], arguments: list[str]) -> dict:
    """Run ``script`` of the code prefix (the entry points beside the ``catalog_search`` package)
    with ``inputs`` ({name: s3 uri}) under ``processing_input(name)`` and the container's
    ``PROCESSING_OUTPUT`` uploaded to ``output_uri`` when the job ends; given {name: s3 uri}, each
    folder ``PROCESSING_OUTPUT/{name}`` to its URI."""
    outputs = output_uri if isinstance(output_uri, dict) else {"output": output_uri}

    def s3_output(output_name: str, uri: str) -> dict:
        local = PROCESSING_OUTPUT if isinstance(output_uri, str) else f"{PROCESSING_OUTPUT}/{output_name}"
        return {"OutputName": output_name, "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"}}

    def s3_input(input_name: str, uri: str) -> dict:
        return {"InputName": input_name, "S3Input": {
            "S3Uri": uri, "LocalPath": processing_input(input_name), "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}

    return {
        "ProcessingJobName": name,
        "ProcessingInputs": [s3_input("code", code_uri)] + [s3_input(n, uri) for n, uri in inputs.items()],
        "ProcessingOutputConfig": {"Outputs": [s3_output(n, uri) for n, uri in outputs.items()]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": settings.processing_instance_type,
                                                  "VolumeSizeInGB": 30}},
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.processing_max_runtime},
        "AppSpecification": {"ImageUri": processing_image(settings),
                             "ContainerEntrypoint": ["python3", f"{PROCESSING_CODE}/{script}"],
                             "ContainerArguments": arguments},
        "Environment": {"PYTHONPATH": PROCESSING_CODE},
        "RoleArn": execution_role(settings),
    }


def training_job_config(settings: Settings, region: str, name: str, training_uri: str, output_uri: str,
                        hyperparameters: dict[str, str]) -> dict:
    def channel(channel_name: str) -> dict:
        return {
            "ChannelName": channel_name,
            "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"{training_uri}{channel_name}/",
                "S3DataDistributionType": "FullyReplicated",
            }},
            "ContentType": JSONLINES if channel_name != "auxiliary" else "application/json",
        }

    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": object2vec_image(region), "TrainingInputMode": "File"},
        "RoleArn": execution_role(settings),
        "HyperParameters": hyperparameters,
        "InputDataConfig": [channel(c) for c in TRAINING_CHANNELS],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {"InstanceType": settings.training_instance_type, "InstanceCount": 1, "VolumeSizeInGB": 20},
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.training_max_runtime},
        # Debugger's default profiler writes under the output path, outside what the job may write.
        "ProfilerConfig": {"DisableProfiler": True},
    }


def model_config(settings: Settings, region: str, name: str, model_data_url: str) -> dict:
    """The champion as a SageMaker model; it answers with embeddings (not pair scores) in batch
    transform and on the query endpoint alike."""
    return {
        "ModelName": name,
        "PrimaryContainer": {"Image": object2vec_image(region), "ModelDataUrl": model_data_url,
                             "Environment": {"INFERENCE_PREFERRED_MODE": "embedding"}},
        "ExecutionRoleArn": execution_role(settings),
    }


def transform_job_config(name: str, model_name: str, input_uri: str, output_uri: str, instance_type: str,
                         instance_count: int = 1) -> dict:
    """A Batch Transform of every file under ``input_uri`` (SageMaker spreads the files over the
    instances), one ``.out`` file each under ``output_uri``."""
    return {
        "TransformJobName": name,
        "ModelName": model_name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": JSONLINES,
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": JSONLINES, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": instance_count},
    }


def endpoint_config_config(settings: Settings, name: str, model_name: str) -> dict:
    """One production variant named after its model, so each answer of the endpoint says which
    model encoded it (InvokeEndpoint's ``InvokedProductionVariant``)."""
    return {
        "EndpointConfigName": name,
        "ProductionVariants": [{
            "VariantName": model_name, "ModelName": model_name, "InitialInstanceCount": 1,
            "InstanceType": settings.endpoint_instance_type, "InitialVariantWeight": 1.0,
        }],
    }


NO_JOB = "no_job"  # a config stage's answer when no job is needed: its value says why


def input_arguments(inputs: dict[str, str]) -> list[str]:
    """``--{name} {file}`` for each single-object input ({name: its URI or key}): the file as the
    container sees it, under ``processing_input(name)`` with the object's own name."""
    return [argument for name, uri in inputs.items()
            for argument in (f"--{name}", f"{processing_input(name)}/{uri.rsplit('/', 1)[-1]}")]


def processing_output(store: ObjectStore, job: dict) -> tuple[ObjectStore, str]:
    """The store and folder (ending in /) of a Processing job's single output, from the job as its
    task returns it (``{"Processing": …}``, either runner)."""
    output, prefix = ObjectStore.at(store.s3, job["Processing"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"])
    return output, prefix.rstrip("/") + "/"


def no_job(reason: str) -> dict:
    """What a config stage returns instead of a request: the job's task then skips, saying why."""
    return {NO_JOB: reason}


def poll_attempts(seconds: float, interval: int = POLL_INTERVAL) -> int:
    """Status checks at ``interval`` that cover ``seconds`` (at least one)."""
    return max(1, math.ceil(seconds / interval))
