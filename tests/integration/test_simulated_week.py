"""A simulated week on the local stack (moto server, the real OpenSearch node): seven nightly
snapshots from the refresh simulator (2 % added, 1 % removed, 2 % retitled, some recategorised),
each run through the stages the schedules chain: refresh, enrichment (and the nightly cron's
second enrichment run for the same snapshot), publish (and a second publish). Then a backfill of
three past dates. The model is the end-to-end chain's champion; the catalog a 3,000-product
sample of its snapshot, so that a night takes seconds; the golden-query gate is off (its dev
queries are judged on the whole catalog).

After each night the snapshot was validated against the night before, the newest snapshot is
live, exactly its new and retitled products were embedded, and DynamoDB holds exactly its
products; after the backfill nothing has moved back."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from catalog_search import dynamo, index
from catalog_search.clients import Clients
from catalog_search.layout import Layout
from catalog_search.stages import Run, enrichment, jobs, publish, refresh
from catalog_search.storage import ObjectStore

NIGHTS = 7
PRODUCTS = 3000


def night_of(day: int) -> tuple[str, str]:
    """The snapshot id and the run time of a night of the week."""
    return f"2027010{day}T010000Z-week", f"2027-01-0{day}T02:00:00+00:00"


@pytest.fixture(scope="module")
def week(chain, clients, tmp_path_factory) -> Clients:
    env, _ = chain
    source = ObjectStore(clients.s3, env["CATALOG_SEARCH_BUCKET"])
    key = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(clients.settings, bucket=f"week-{key}", table_name=f"week-{key}", index_alias=f"week-{key}",
                                   index_replicas=0, golden_queries="", work_dir=tmp_path_factory.mktemp("week"))
    week = Clients(settings, clients.make_aws, clients.make_opensearch, clients.endpoints)
    week.store.ensure_bucket()
    champion = source.get_json(Layout.CHAMPION)
    week.store.put_json(Layout.CHAMPION, champion)
    week.store.put_json(Layout.model_lineage(champion["model_version"]),
                        source.get_json(Layout.model_lineage(champion["model_version"])))
    products = source.get_parquet(Layout.snapshot_products(source.get_json(Layout.LATEST_ENRICHMENT)["snapshot_id"]))
    week.store.put_parquet(Layout.snapshot_products(night_of(1)[0]), products.sample(PRODUCTS, random_state=0))
    yield week
    clients.opensearch.indices.delete(index=f"{settings.index_alias}-*", ignore_unavailable=True)


def run_night(week: Clients, day: int) -> dict:
    snapshot_id, when = night_of(day)
    landing = Run("catalog_refresh", f"scheduled__{when}")
    if day > 1:  # the first night's snapshot was landed by the fixture
        manifest = refresh.land_snapshot(week, landing, snapshot_id, derive_from=night_of(day - 1)[0])
        assert manifest["source"].startswith(f"refresh of {night_of(day - 1)[0]}")
    diff = refresh.validate_snapshot(week, landing, snapshot_id)["diff"]
    if day > 1:  # validated against the night before, every kind of change present
        assert diff["previous_snapshot"] == night_of(day - 1)[0]
        assert diff["added"] > 0 and diff["removed"] > 0 and diff["retitled"] > 0 and diff["recategorised"] > 0
    refresh.publish_snapshot(week, landing, snapshot_id)

    run = Run("catalog_enrichment", f"asset_triggered__{when}")
    inputs = enrichment.resolve_inputs(week, run)
    assert inputs["snapshot_id"] == snapshot_id and enrichment.needs_embedding(week, run, **inputs)
    jobs.run_locally(week, run, "transform", enrichment.prepare_transform_input(week, run, **inputs))
    enriched = enrichment.assemble_enriched(week, run, **inputs)
    cron = Run("catalog_enrichment", f"scheduled__{when}")
    assert not enrichment.needs_embedding(week, cron, **enrichment.resolve_inputs(week, cron))

    run = Run("search_index_publish", f"asset_triggered__{when}")
    inputs = publish.resolve_inputs(week, run)
    assert publish.needs_publishing(week, run, **inputs)
    built = publish.build_index(week, run, **inputs)
    publish.check_search_quality(week, run, built["index"])
    upserted = publish.upsert_items(week, run, **inputs)
    assert publish.swap_alias(week, run, built["index"])["moved"]
    assert not publish.needs_publishing(week, run, **inputs)
    return {"enriched": enriched, "upserted": upserted}


def changed_for_the_encoder(week: Clients, day: int) -> int:
    """Products of the night's snapshot that are new or whose title changed since the night before."""
    now = week.store.get_parquet(Layout.snapshot_products(night_of(day)[0])).set_index("product_id")["title"]
    before = week.store.get_parquet(Layout.snapshot_products(night_of(day - 1)[0])).set_index("product_id")["title"]
    return int((~now.index.isin(before.index)).sum() + (now.reindex(before.index).dropna() != before.reindex(now.index).dropna()).sum())


def live_state(week: Clients) -> tuple[str, set[str]]:
    """The live index's snapshot, and the live DynamoDB items among every product of the week."""
    live = index.live_index(week.opensearch, week.settings.index_alias)
    ever = set().union(*(set(week.store.get_parquet(Layout.snapshot_products(night_of(day)[0]))["product_id"].astype(str))
                         for day in range(1, NIGHTS + 1) if week.store.exists(Layout.snapshot_products(night_of(day)[0]))))
    states = dynamo.item_states(week.dynamodb, week.settings.table_name, ever)
    return index.index_meta(week.opensearch, live)["snapshot_id"], {p for p, s in states.items() if dynamo.REMOVED_IN not in s}


def test_seven_nights_then_a_backfill(week):
    for day in range(1, NIGHTS + 1):
        outcome = run_night(week, day)
        snapshot_id = night_of(day)[0]
        products = set(week.store.get_parquet(Layout.snapshot_products(snapshot_id))["product_id"].astype(str))
        live_snapshot, table = live_state(week)
        assert live_snapshot == snapshot_id and table == products, f"night {day}"
        if day == 1:
            assert outcome["enriched"]["embedded"] == len(products) and outcome["upserted"]["created"] == len(products)
            continue
        assert outcome["enriched"]["embedded"] == changed_for_the_encoder(week, day) > 0, f"night {day}"
        assert 0 < outcome["upserted"]["written"] < len(products) / 4 and outcome["upserted"]["removed"] > 0, f"night {day}"

    model_version, newest = week.store.get_json(Layout.CHAMPION)["model_version"], night_of(NIGHTS)[0]
    for day in (3, 4, 5):  # a backfill from the Airflow UI over three past dates
        snapshot_id, when = night_of(day)
        assert not enrichment.needs_embedding(week, Run("catalog_enrichment", f"backfill__{when}"), snapshot_id, model_version)
        backfill = Run("search_index_publish", f"backfill__{when}")
        assert not publish.needs_publishing(week, backfill, snapshot_id, model_version)
        assert publish.upsert_items(week, backfill, snapshot_id, model_version)["written"] == 0  # even if it got there
    live_snapshot, table = live_state(week)
    assert live_snapshot == newest
    assert table == set(week.store.get_parquet(Layout.snapshot_products(newest))["product_id"].astype(str))
