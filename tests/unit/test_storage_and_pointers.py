"""The snapshot pointers on an object store (moto in-process)."""

import boto3
import pytest
from moto import mock_aws

from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import MissingObject, ObjectStore
from catalog_search.store.pointers import advance_enrichment, advance_snapshot, latest_enrichment, latest_snapshot, previous_snapshot


@pytest.fixture
def store(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        store = ObjectStore(boto3.client("s3"), "pointers")
        store.ensure_bucket()
        yield store


def test_latest_only_moves_forward(store):
    advance_snapshot(store, "20260201T000000Z-x")
    advance_snapshot(store, "20260101T000000Z-x")  # a backfill
    assert latest_snapshot(store) == "20260201T000000Z-x"
    advance_snapshot(store, "20260301T000000Z-x")
    assert latest_snapshot(store) == "20260301T000000Z-x"


def test_previous_snapshot_is_the_newest_older_one(store):
    for snapshot_id in ("20260101T000000Z-x", "20260201T000000Z-x", "20260301T000000Z-x"):
        store.put_bytes(ObjectKeys.snapshot_products(snapshot_id), b"parquet")
        store.put_json(ObjectKeys.snapshot_validated(snapshot_id), {})
    store.put_bytes(ObjectKeys.snapshot_products("20260215T000000Z-x"), b"parquet")  # failed its suite: not validated
    assert previous_snapshot(store, "20260301T000000Z-x") == "20260201T000000Z-x"
    assert previous_snapshot(store, "20260210T000000Z-x") == "20260201T000000Z-x"
    assert previous_snapshot(store, "20260101T000000Z-x") is None


def test_missing_objects_name_their_uri(store):
    with pytest.raises(MissingObject, match="s3://pointers/nothing/here"):
        store.get_bytes("nothing/here")
    with pytest.raises(LookupError, match="run catalog_refresh first"):
        latest_snapshot(store)


def test_the_enrichment_pointer_follows_newer_snapshots_and_the_champion_within_one(store):
    store.put_json(ObjectKeys.CHAMPION, {"model_version": "m-ffff"})
    advance_enrichment(store, "20260102T000000Z-x", "m-ffff")
    # A new champion for the same snapshot: its name sorts lower, its enrichment still wins.
    store.put_json(ObjectKeys.CHAMPION, {"model_version": "m-0000"})
    advance_enrichment(store, "20260102T000000Z-x", "m-0000")
    assert latest_enrichment(store) == {"snapshot_id": "20260102T000000Z-x", "model_version": "m-0000"}
    advance_enrichment(store, "20260102T000000Z-x", "m-ffff")  # a re-run with a former champion
    advance_enrichment(store, "20260101T000000Z-x", "m-0000")  # a backfill of an older snapshot
    assert latest_enrichment(store) == {"snapshot_id": "20260102T000000Z-x", "model_version": "m-0000"}
    advance_enrichment(store, "20260103T000000Z-x", "m-ffff")  # a newer snapshot always moves it
    assert latest_enrichment(store)["snapshot_id"] == "20260103T000000Z-x"


def test_vectors_are_stored_packed_and_read_back_as_the_same_arrays_or_one_matrix(store):
    import io

    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from catalog_search.store.object_store import frame_with_vectors, vector_matrix

    frame = pd.DataFrame({"product_id": ["a", "b", "c"], "embedding": [np.arange(3, dtype=np.float32), np.ones(3, np.float32),
                                                                        np.array([-1.5, 0, 2e-7], np.float32)],
                          "price": [1.5, None, 2.0]})
    store.put_parquet("frames/vectors.parquet", frame)
    field = pq.read_schema(io.BytesIO(store.get_bytes("frames/vectors.parquet"))).field("embedding")
    assert str(field.type) == "fixed_size_binary[12]" and field.metadata == {b"vector": b"float32-le"}
    back = store.get_parquet("frames/vectors.parquet")
    assert list(back.columns) == ["product_id", "embedding", "price"] and back["embedding"].iloc[0].dtype == np.float32
    np.testing.assert_array_equal(np.stack(back["embedding"].to_numpy()), np.stack(frame["embedding"].to_numpy()))
    assert store.get_parquet("frames/vectors.parquet", columns=["price"]).columns.tolist() == ["price"]
    framed, matrix = frame_with_vectors(store.get_table("frames/vectors.parquet"), "embedding")
    np.testing.assert_array_equal(matrix, np.stack(frame["embedding"].to_numpy()))
    assert all(np.shares_memory(row, matrix) for row in framed["embedding"])  # one matrix, not a copy per row
    rows = store.get_table("frames/vectors.parquet").slice(1)  # an offset into the column's buffer
    np.testing.assert_array_equal(vector_matrix(rows.column("embedding")), np.stack(frame["embedding"].to_numpy()[1:]))
    store.put_parquet("frames/matrix.parquet", frame.drop(columns="embedding"), vectors={"embedding": np.stack(frame["embedding"])})
    assert pq.read_schema(io.BytesIO(store.get_bytes("frames/matrix.parquet"))).field("embedding") == field
    given = store.get_parquet("frames/matrix.parquet")  # a matrix given apart is the same column, after the frame's
    assert list(given.columns) == ["product_id", "price", "embedding"]
    np.testing.assert_array_equal(np.stack(given["embedding"].to_numpy()), np.stack(frame["embedding"].to_numpy()))


def test_vectors_written_as_fixed_size_lists_before_are_still_read(store):
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from catalog_search.store.object_store import vector_matrix

    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"product_id": ["a", "b"],
                             "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 3)}), buffer)
    store.put_bytes("frames/lists.parquet", buffer.getvalue())
    np.testing.assert_array_equal(np.stack(store.get_parquet("frames/lists.parquet")["embedding"].to_numpy()), vectors)
    np.testing.assert_array_equal(vector_matrix(store.get_table("frames/lists.parquet").column("embedding")), vectors)


def test_catalogs_are_written_in_row_groups_that_read_back_whole_or_a_batch_at_a_time(store, tmp_path, monkeypatch):
    import io

    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from catalog_search.store import batches, object_store
    from catalog_search.store.batches import CatalogBatches

    monkeypatch.setattr(object_store, "ROW_GROUP_ROWS", 4)
    monkeypatch.setattr(batches, "BATCH_ROWS", 4)
    vectors = np.arange(30, dtype=np.float32).reshape(10, 3)
    frame = pd.DataFrame({"product_id": [f"p{i}" for i in range(10)]})
    store.put_parquet("frames/groups.parquet", frame, vectors={"embedding": vectors})
    local = object_store.write_parquet(tmp_path / "groups.parquet", frame, vectors={"embedding": vectors})
    for file in (pq.ParquetFile(io.BytesIO(store.get_bytes("frames/groups.parquet"))), pq.ParquetFile(local)):
        assert [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)] == [4, 4, 2]
    whole, matrix = object_store.frame_with_vectors(store.get_table("frames/groups.parquet"), "embedding")
    np.testing.assert_array_equal(matrix, vectors)  # three chunks, one matrix
    assert all(np.shares_memory(row, matrix) for row in whole["embedding"])
    read = CatalogBatches.from_store(store, "frames/groups.parquet", tmp_path / "copy.parquet")
    assert [len(batch) for batch, _ in read] == [4, 4, 2] and read.dim == 3
    np.testing.assert_array_equal(np.concatenate([m for _, m in read]), vectors)
    assert read.product_ids().tolist() == frame["product_id"].tolist()
    assert [batch.to_pylist() for batch in batches.id_batches(read.path)] == [[f"p{i}" for i in r] for r in (range(4), range(4, 8), range(8, 10))]


def test_vectors_of_different_sizes_stay_a_list_column(store):
    import numpy as np
    import pandas as pd

    ragged = pd.DataFrame({"embedding": [np.ones(3, np.float32), np.ones(2, np.float32)]})  # not one vector size
    store.put_parquet("frames/ragged.parquet", ragged)
    assert [len(v) for v in store.get_parquet("frames/ragged.parquet")["embedding"]] == [3, 2]


def test_a_missing_bucket_is_created_in_the_client_s_region_and_a_refusal_is_not_taken_for_absence():
    """Outside us-east-1 S3 refuses a CreateBucket that does not name its region (moto too)."""
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        ObjectStore(s3, "deployment-bucket").ensure_bucket()
        assert s3.get_bucket_location(Bucket="deployment-bucket")["LocationConstraint"] == "eu-west-1"
        ObjectStore(s3, "deployment-bucket").ensure_bucket()  # there: left alone
    refused = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(refused) as stub:
        stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        with pytest.raises(ClientError, match="403"):
            ObjectStore(refused, "someone-elses-bucket").ensure_bucket()
        stub.assert_no_pending_responses()
