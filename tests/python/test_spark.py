"""`kpiscope.spark` in a real local Spark session: the package's (and so the SQL functions')
results value for value, from rows Spark holds in any order across partitions."""

import os
import random
import sys

import pyarrow as pa
import pytest

import kpiscope
import kpiscope.spark

os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable

from pyspark.sql import SparkSession  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    session = (SparkSession.builder.master("local[2]").appName("kpiscope-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data():
    table = kpiscope.generate_kpi_data(days=120, seed=9, anomalies=3)
    order = list(range(table.num_rows))
    random.Random(5).shuffle(order)
    return table.take(order)


def rows(table: pa.Table) -> list:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


def same(spark_result, local: pa.Table):
    result = spark_result.toArrow()
    assert result.column_names == local.column_names
    assert result.num_rows == local.num_rows > 0
    assert rows(result) == rows(local)


def test_spark_detection_forecasts_and_change_points_equal_the_package(spark, data):
    df = spark.createDataFrame(data).repartition(3)
    same(kpiscope.spark.detect_anomalies(df, value="revenue", group_by=["channel", "region"]),
         kpiscope.detect_anomalies(data, value="revenue", group_by=["channel", "region"]))
    same(kpiscope.spark.detect_anomalies(df, ts="day", value="orders", sensitivity="high", buckets=3),
         kpiscope.detect_anomalies(data, ts="day", value="orders", sensitivity="high"))
    same(kpiscope.spark.forecast_kpi(df, value="orders", group_by=["cohort"], horizon=7),
         kpiscope.forecast_kpi(data, value="orders", group_by=["cohort"], horizon=7))
    same(kpiscope.spark.change_points(df, value="dau", group_by=["channel"]),
         kpiscope.change_points(data, value="dau", group_by=["channel"]))


def test_spark_root_causes_equal_the_package_on_the_injected_days(spark, data):
    df = spark.createDataFrame(data).repartition(2)
    for anomaly in kpiscope.generate_kpi_anomalies(days=120, seed=9, anomalies=3).to_pylist():
        day = anomaly["start_day"]
        same(kpiscope.spark.rca_contributions(df, dimensions=["channel", "region", "cohort"], ts="day",
                                              metric="revenue", test=day),
             kpiscope.rca_contributions(data, dimensions=["channel", "region", "cohort"], ts="day", metric="revenue",
                                        test=day))
    same(kpiscope.spark.rca_anomalies(df, dimensions=["channel", "region"], numerator="orders",
                                      denominator="sessions", sensitivity="high"),
         kpiscope.rca_anomalies(data, dimensions=["channel", "region"], numerator="orders", denominator="sessions",
                                sensitivity="high"))


def test_spark_mistakes_are_the_package_errors(spark, data):
    df = spark.createDataFrame(data.slice(0, 50))
    with pytest.raises(ValueError, match="kpiscope: horizon must be between 1 and 366, got 0"):
        kpiscope.spark.forecast_kpi(df, value="orders", horizon=0)
    with pytest.raises(ValueError, match="kpiscope: buckets must be a positive integer"):
        kpiscope.spark.detect_anomalies(df, value="orders", buckets=0)
