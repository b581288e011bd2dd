"""Glue as tools drive it: tags on databases, tables and crawlers by their ARNs (and at
creation), partition indexes, column statistics, user-defined functions, custom classifiers
(and a crawler that applies one), and the calls Terraform's AWS provider makes for
aws_glue_catalog_database, aws_glue_catalog_table and aws_glue_crawler, replayed in its order
with the members it sends. Bad input is refused with Glue's exception and changes nothing."""

import datetime
import time

import pytest
from botocore.exceptions import ClientError

from conftest import REGION, unique, wait_query

pytestmark = pytest.mark.core

ACCOUNT = "000000000000"


@pytest.fixture
def glue(server):
    """A Glue client that leaves checking its input to the server."""
    return server.client("glue", parameter_validation=False)


def refused(call, **kwargs) -> str:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"]


def arn(kind: str, *names: str) -> str:
    return f"arn:aws:glue:{REGION}:{ACCOUNT}:{kind}/{'/'.join(names)}"


def partitioned(glue, db: str, name: str, **extra):
    glue.create_table(DatabaseName=db, TableInput={
        "Name": name,
        "PartitionKeys": [{"Name": "year", "Type": "string"}, {"Name": "month", "Type": "int"}, {"Name": "day", "Type": "string"}],
        "StorageDescriptor": {"Columns": [{"Name": "v", "Type": "bigint"}], "Location": f"s3://nowhere/{name}/"},
    }, **extra)


def test_tags_on_databases_tables_and_crawlers(glue):
    db = unique("tagged").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db}, Tags={"team": "data"})
    assert glue.get_tags(ResourceArn=arn("database", db))["Tags"] == {"team": "data"}
    glue.create_table(DatabaseName=db, TableInput={"Name": "t", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}]}})
    assert glue.get_tags(ResourceArn=arn("table", db, "t"))["Tags"] == {}
    glue.tag_resource(ResourceArn=arn("table", db, "t"), TagsToAdd={"pii": "no", "owner": "me"})
    glue.tag_resource(ResourceArn=arn("table", db, "t"), TagsToAdd={"owner": "you"})
    glue.untag_resource(ResourceArn=arn("table", db, "t"), TagsToRemove=["pii", "absent"])
    assert glue.get_tags(ResourceArn=arn("table", db, "t"))["Tags"] == {"owner": "you"}
    crawler = unique("tagged-crawler")
    glue.create_crawler(Name=crawler, Role="arn:aws:iam::000000000000:role/glue", DatabaseName=db,
                        Targets={"S3Targets": [{"Path": "s3://nowhere/"}]}, Tags={"env": "dev"})
    assert glue.get_tags(ResourceArn=arn("crawler", crawler))["Tags"] == {"env": "dev"}
    assert "Tags" not in glue.get_crawler(Name=crawler)["Crawler"]

    # Bad input is Glue's exception and changes nothing.
    for call, kwargs, expected in [
        (glue.tag_resource, {"ResourceArn": arn("table", db, "t"), "TagsToAdd": {"aws:x": "y"}}, "InvalidInputException"),
        (glue.tag_resource, {"ResourceArn": arn("table", db, "t"), "TagsToAdd": {f"k{i}": "v" for i in range(50)}}, "InvalidInputException"),
        (glue.tag_resource, {"ResourceArn": arn("table", db, "t"), "TagsToAdd": {"k": "v" * 257}}, "InvalidInputException"),
        (glue.tag_resource, {"ResourceArn": "not-an-arn", "TagsToAdd": {"a": "b"}}, "InvalidInputException"),
        (glue.tag_resource, {"ResourceArn": arn("table", db, "missing"), "TagsToAdd": {"a": "b"}}, "EntityNotFoundException"),
        (glue.get_tags, {"ResourceArn": arn("database", "missing_db")}, "EntityNotFoundException"),
        (glue.get_tags, {"ResourceArn": f"arn:aws:glue:{REGION}:111111111111:database/{db}"}, "EntityNotFoundException"),
        (glue.get_tags, {"ResourceArn": arn("connection", "c")}, "InvalidInputException"),
        (glue.create_database, {"DatabaseInput": {"Name": db + "_2"}, "Tags": {"aws:no": "x"}}, "InvalidInputException"),
    ]:
        assert refused(call, **kwargs) == expected, kwargs
    assert glue.get_tags(ResourceArn=arn("table", db, "t"))["Tags"] == {"owner": "you"}
    assert refused(glue.get_database, Name=db + "_2") == "EntityNotFoundException"

    # Tags go with what they tag: a table (and database) made again under the same name has none.
    glue.delete_crawler(Name=crawler)
    glue.create_crawler(Name=crawler, Role="r", DatabaseName=db, Targets={"S3Targets": [{"Path": "s3://nowhere/"}]})
    assert glue.get_tags(ResourceArn=arn("crawler", crawler))["Tags"] == {}
    glue.delete_table(DatabaseName=db, Name="t")
    glue.create_table(DatabaseName=db, TableInput={"Name": "t", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}]}})
    assert glue.get_tags(ResourceArn=arn("table", db, "t"))["Tags"] == {}
    glue.tag_resource(ResourceArn=arn("table", db, "t"), TagsToAdd={"x": "1"})
    glue.delete_database(Name=db)
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={"Name": "t", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}]}})
    assert glue.get_tags(ResourceArn=arn("database", db))["Tags"] == {}
    assert glue.get_tags(ResourceArn=arn("table", db, "t"))["Tags"] == {}
    glue.delete_crawler(Name=crawler)
    glue.delete_database(Name=db)


def test_partition_indexes(glue):
    db = unique("indexed").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    partitioned(glue, db, "events", PartitionIndexes=[{"IndexName": "by_year", "Keys": ["year"]}])
    glue.create_partition_index(DatabaseName=db, TableName="events", PartitionIndex={"IndexName": "by_month", "Keys": ["year", "month"]})
    listed = glue.get_partition_indexes(DatabaseName=db, TableName="events")["PartitionIndexDescriptorList"]
    assert sorted((i["IndexName"], [(k["Name"], k["Type"]) for k in i["Keys"]], i["IndexStatus"]) for i in listed) == [
        ("by_month", [("year", "string"), ("month", "int")], "ACTIVE"),
        ("by_year", [("year", "string")], "ACTIVE"),
    ]
    # GetPartitions answers the same with an index on its filter's keys.
    glue.batch_create_partition(DatabaseName=db, TableName="events", PartitionInputList=[
        {"Values": [y, m, "01"], "StorageDescriptor": {"Location": f"s3://nowhere/events/{y}/{m}/"}}
        for y in ("2023", "2024") for m in ("1", "2")])
    found = glue.get_partitions(DatabaseName=db, TableName="events", Expression="year = '2024' AND month = 2")["Partitions"]
    assert [p["Values"] for p in found] == [["2024", "2", "01"]]
    everything = glue.get_partitions(DatabaseName=db, TableName="events", Expression="")["Partitions"]
    assert len(everything) == 4
    segments = [glue.get_partitions(DatabaseName=db, TableName="events", Segment={"SegmentNumber": i, "TotalSegments": 2})["Partitions"]
                for i in range(2)]
    assert sorted(tuple(p["Values"]) for s in segments for p in s) == sorted(tuple(p["Values"]) for p in everything)

    for call, kwargs, expected in [
        (glue.create_partition_index, {"DatabaseName": db, "TableName": "events", "PartitionIndex": {"IndexName": "by_year", "Keys": ["year"]}},
         "AlreadyExistsException"),
        (glue.create_partition_index, {"DatabaseName": db, "TableName": "events", "PartitionIndex": {"IndexName": "bad", "Keys": ["v"]}},
         "InvalidInputException"),
        (glue.create_partition_index, {"DatabaseName": db, "TableName": "events", "PartitionIndex": {"IndexName": "twice", "Keys": ["day", "day"]}},
         "InvalidInputException"),
        (glue.create_partition_index, {"DatabaseName": db, "TableName": "missing", "PartitionIndex": {"IndexName": "x", "Keys": ["year"]}},
         "EntityNotFoundException"),
        (glue.delete_partition_index, {"DatabaseName": db, "TableName": "events", "IndexName": "nope"}, "EntityNotFoundException"),
        (glue.create_table, {"DatabaseName": db, "TableInput": {"Name": "broken", "PartitionKeys": [{"Name": "k", "Type": "string"}]},
                             "PartitionIndexes": [{"IndexName": "i", "Keys": ["nope"]}]}, "InvalidInputException"),
    ]:
        assert refused(call, **kwargs) == expected, kwargs
    assert refused(glue.get_table, DatabaseName=db, Name="broken") == "EntityNotFoundException"
    glue.create_partition_index(DatabaseName=db, TableName="events", PartitionIndex={"IndexName": "by_day", "Keys": ["day"]})
    assert refused(glue.create_partition_index, DatabaseName=db, TableName="events",
                   PartitionIndex={"IndexName": "fourth", "Keys": ["month"]}) == "ResourceNumberLimitExceededException"
    assert len(glue.get_partition_indexes(DatabaseName=db, TableName="events")["PartitionIndexDescriptorList"]) == 3
    glue.delete_partition_index(DatabaseName=db, TableName="events", IndexName="by_day")
    assert len(glue.get_partition_indexes(DatabaseName=db, TableName="events")["PartitionIndexDescriptorList"]) == 2
    # Indexes go with their table.
    glue.delete_table(DatabaseName=db, Name="events")
    partitioned(glue, db, "events")
    assert glue.get_partition_indexes(DatabaseName=db, TableName="events")["PartitionIndexDescriptorList"] == []
    glue.delete_database(Name=db)


def test_terraform_aws_glue_catalog_database_sequence(glue):
    """internal/service/glue/catalog_database.go: create with CatalogId and tags; read is
    GetDatabase with CatalogId then GetTags; an update retags, then UpdateDatabase; delete with
    CatalogId; a read after it is EntityNotFoundException."""
    name = unique("tf_db").replace("-", "_")
    db_arn = arn("database", name)
    glue.create_database(CatalogId=ACCOUNT, DatabaseInput={"Name": name, "Description": "managed", "LocationUri": "s3://lake/db/",
                                                            "Parameters": {"k": "v"}}, Tags={"Name": name})
    for _ in range(2):  # apply, then refresh
        got = glue.get_database(CatalogId=ACCOUNT, Name=name)["Database"]
        assert (got["Name"], got["CatalogId"], got["Description"], got["LocationUri"]) == (name, ACCOUNT, "managed", "s3://lake/db/")
        assert glue.get_tags(ResourceArn=db_arn)["Tags"] == {"Name": name}
    glue.untag_resource(ResourceArn=db_arn, TagsToRemove=["Name"])
    glue.tag_resource(ResourceArn=db_arn, TagsToAdd={"Stage": "test"})
    permissions = got.get("CreateTableDefaultPermissions", [])
    glue.update_database(CatalogId=ACCOUNT, Name=name, DatabaseInput={"Name": name, "Description": "changed", "LocationUri": "s3://lake/db/",
                                                                        "Parameters": {"k": "w"}, "CreateTableDefaultPermissions": permissions})
    got = glue.get_database(CatalogId=ACCOUNT, Name=name)["Database"]
    assert (got["Description"], got["Parameters"]) == ("changed", {"k": "w"})
    assert glue.get_tags(ResourceArn=db_arn)["Tags"] == {"Stage": "test"}
    glue.delete_database(CatalogId=ACCOUNT, Name=name)
    assert refused(glue.get_database, CatalogId=ACCOUNT, Name=name) == "EntityNotFoundException"


def test_terraform_aws_glue_catalog_table_sequence(glue):
    """internal/service/glue/catalog_table.go: CreateTable with CatalogId, PartitionIndexes and a
    StorageDescriptor whose unset strings are empty; every read is GetTable then
    GetPartitionIndexes (with the CatalogId GetTable returned); UpdateTable after a GetTable;
    DeleteTable."""
    db = unique("tf_tables").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    name = "events"
    columns = [{"Name": "id", "Type": "bigint", "Comment": ""}, {"Name": "body", "Type": "string", "Comment": ""}]
    storage = {
        "Columns": columns, "Location": "s3://lake/events/", "InputFormat": "", "OutputFormat": "", "Compressed": False,
        "NumberOfBuckets": 0, "StoredAsSubDirectories": False, "BucketColumns": [], "SortColumns": [], "Parameters": {},
        "SerdeInfo": {"Name": "", "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe", "Parameters": {}},
    }
    glue.create_table(CatalogId=ACCOUNT, DatabaseName=db, TableInput={
        "Name": name, "Description": "", "Owner": "", "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "json"},
        "PartitionKeys": [{"Name": "dt", "Type": "string", "Comment": ""}], "StorageDescriptor": storage,
        "Retention": 0, "ViewOriginalText": "", "ViewExpandedText": "",
    }, PartitionIndexes=[{"IndexName": "by_dt", "Keys": ["dt"]}])

    def read():
        table = glue.get_table(CatalogId=ACCOUNT, DatabaseName=db, Name=name)["Table"]
        indexes = glue.get_partition_indexes(CatalogId=table["CatalogId"], DatabaseName=db, TableName=name)["PartitionIndexDescriptorList"]
        return table, indexes

    for _ in range(2):
        table, indexes = read()
        assert table["StorageDescriptor"]["Location"] == "s3://lake/events/" and table["TableType"] == "EXTERNAL_TABLE"
        assert [(i["IndexName"], i["IndexStatus"]) for i in indexes] == [("by_dt", "ACTIVE")]
    glue.get_table(CatalogId=ACCOUNT, DatabaseName=db, Name=name)
    glue.update_table(CatalogId=ACCOUNT, DatabaseName=db, TableInput={
        "Name": name, "Description": "events, changed", "Owner": "", "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "json"}, "PartitionKeys": [{"Name": "dt", "Type": "string", "Comment": ""}],
        "StorageDescriptor": dict(storage, Columns=columns + [{"Name": "extra", "Type": "int", "Comment": ""}]),
        "Retention": 0, "ViewOriginalText": "", "ViewExpandedText": "",
    })
    table, indexes = read()
    assert table["Description"] == "events, changed" and [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["id", "body", "extra"]
    assert len(indexes) == 1
    glue.delete_table(CatalogId=ACCOUNT, DatabaseName=db, Name=name)
    assert refused(glue.get_table, CatalogId=ACCOUNT, DatabaseName=db, Name=name) == "EntityNotFoundException"
    glue.delete_database(Name=db)


def test_terraform_aws_glue_crawler_sequence(glue):
    """internal/service/glue/crawler.go: CreateCrawler with tags and the targets' empty strings;
    read is GetCrawler then GetTags; an update retags, then UpdateCrawler with empty Schedule,
    TablePrefix and Configuration; DeleteCrawler; a read after it is EntityNotFoundException."""
    db = unique("tf_crawl").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    name = unique("tf-crawler")
    crawler_arn = arn("crawler", name)
    target = {"Path": "s3://lake/raw/", "ConnectionName": "", "EventQueueArn": "", "DlqEventQueueArn": "", "Exclusions": []}
    glue.create_crawler(Name=name, DatabaseName=db, Role="arn:aws:iam::000000000000:role/glue", Targets={"S3Targets": [target]},
                        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DEPRECATE_IN_DATABASE"},
                        Tags={"Name": name})
    for _ in range(2):
        crawler = glue.get_crawler(Name=name)["Crawler"]
        assert (crawler["Name"], crawler["DatabaseName"], crawler["State"]) == (name, db, "READY")
        assert crawler["Targets"]["S3Targets"][0]["Path"] == "s3://lake/raw/"
        assert glue.get_tags(ResourceArn=crawler_arn)["Tags"] == {"Name": name}
    glue.untag_resource(ResourceArn=crawler_arn, TagsToRemove=["Name"])
    glue.tag_resource(ResourceArn=crawler_arn, TagsToAdd={"Stage": "test"})
    glue.update_crawler(Name=name, DatabaseName=db, Role="arn:aws:iam::000000000000:role/glue",
                        Targets={"S3Targets": [dict(target, Path="s3://lake/raw2/")]}, Schedule="", TablePrefix="", Configuration="",
                        Description="changed")
    crawler = glue.get_crawler(Name=name)["Crawler"]
    assert crawler["Targets"]["S3Targets"][0]["Path"] == "s3://lake/raw2/" and crawler["Description"] == "changed"
    assert "Schedule" not in crawler
    assert glue.get_tags(ResourceArn=crawler_arn)["Tags"] == {"Stage": "test"}
    glue.delete_crawler(Name=name)
    assert refused(glue.get_crawler, Name=name) == "EntityNotFoundException"
    glue.delete_database(Name=db)


def test_column_statistics_of_tables_and_partitions(glue):
    db = unique("stats").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    partitioned(glue, db, "events")
    glue.create_partition(DatabaseName=db, TableName="events", PartitionInput={"Values": ["2024", "1", "01"]})
    analyzed = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
    long_stats = {"ColumnName": "v", "ColumnType": "bigint", "AnalyzedTime": analyzed, "StatisticsData": {
        "Type": "LONG", "LongColumnStatisticsData": {"MinimumValue": 1, "MaximumValue": 99, "NumberOfNulls": 0, "NumberOfDistinctValues": 42}}}
    string_stats = {"ColumnName": "year", "ColumnType": "string", "AnalyzedTime": analyzed, "StatisticsData": {
        "Type": "STRING", "StringColumnStatisticsData": {"MaximumLength": 4, "AverageLength": 4.0, "NumberOfNulls": 0, "NumberOfDistinctValues": 2}}}
    bad = [
        {"ColumnName": "nope", "ColumnType": "bigint", "AnalyzedTime": analyzed, "StatisticsData": long_stats["StatisticsData"]},
        {"ColumnName": "v", "ColumnType": "bigint", "AnalyzedTime": analyzed, "StatisticsData": {"Type": "LONG"}},
        {"ColumnName": "v", "ColumnType": "bigint", "AnalyzedTime": analyzed, "StatisticsData": {"Type": "COMPLEX", "LongColumnStatisticsData": {}}},
    ]
    errors = glue.update_column_statistics_for_table(DatabaseName=db, TableName="events", ColumnStatisticsList=[long_stats, string_stats] + bad)["Errors"]
    assert [(e["ColumnStatistics"]["ColumnName"], e["Error"]["ErrorCode"]) for e in errors] == [
        ("nope", "EntityNotFoundException"), ("v", "InvalidInputException"), ("v", "InvalidInputException")]
    got = glue.get_column_statistics_for_table(DatabaseName=db, TableName="events", ColumnNames=["v", "year", "day"])
    assert {s["ColumnName"]: s["StatisticsData"] for s in got["ColumnStatisticsList"]} == {
        "v": long_stats["StatisticsData"], "year": string_stats["StatisticsData"]}
    assert got["ColumnStatisticsList"][0]["AnalyzedTime"] == analyzed
    assert [(e["ColumnName"], e["Error"]["ErrorCode"]) for e in got["Errors"]] == [("day", "EntityNotFoundException")]
    # A partition's statistics are its own; a partition key has none there.
    values = ["2024", "1", "01"]
    errors = glue.update_column_statistics_for_partition(DatabaseName=db, TableName="events", PartitionValues=values,
                                                         ColumnStatisticsList=[long_stats, string_stats])["Errors"]
    assert [e["ColumnStatistics"]["ColumnName"] for e in errors] == ["year"]
    got = glue.get_column_statistics_for_partition(DatabaseName=db, TableName="events", PartitionValues=values, ColumnNames=["v"])
    assert [s["ColumnName"] for s in got["ColumnStatisticsList"]] == ["v"]
    assert refused(glue.get_column_statistics_for_partition, DatabaseName=db, TableName="events", PartitionValues=["1999", "1", "01"],
                   ColumnNames=["v"]) == "EntityNotFoundException"
    assert refused(glue.get_column_statistics_for_partition, DatabaseName=db, TableName="events", ColumnNames=["v"]) == "InvalidInputException"
    glue.delete_column_statistics_for_table(DatabaseName=db, TableName="events", ColumnName="year")
    assert refused(glue.delete_column_statistics_for_table, DatabaseName=db, TableName="events", ColumnName="year") == "EntityNotFoundException"
    assert [s["ColumnName"] for s in glue.get_column_statistics_for_table(DatabaseName=db, TableName="events",
                                                                          ColumnNames=["v", "year"])["ColumnStatisticsList"]] == ["v"]
    # Statistics go with their partition, and with their table.
    glue.delete_partition(DatabaseName=db, TableName="events", PartitionValues=values)
    glue.create_partition(DatabaseName=db, TableName="events", PartitionInput={"Values": values})
    assert glue.get_column_statistics_for_partition(DatabaseName=db, TableName="events", PartitionValues=values,
                                                    ColumnNames=["v"])["ColumnStatisticsList"] == []
    # ... and with its values, when UpdatePartition changes them.
    glue.update_column_statistics_for_partition(DatabaseName=db, TableName="events", PartitionValues=values, ColumnStatisticsList=[long_stats])
    moved = ["2024", "2", "01"]
    glue.update_partition(DatabaseName=db, TableName="events", PartitionValueList=values, PartitionInput={"Values": moved})
    glue.create_partition(DatabaseName=db, TableName="events", PartitionInput={"Values": values})
    for v in (values, moved):
        assert glue.get_column_statistics_for_partition(DatabaseName=db, TableName="events", PartitionValues=v,
                                                        ColumnNames=["v"])["ColumnStatisticsList"] == [], v
    glue.delete_table(DatabaseName=db, Name="events")
    partitioned(glue, db, "events")
    assert glue.get_column_statistics_for_table(DatabaseName=db, TableName="events", ColumnNames=["v"])["ColumnStatisticsList"] == []
    glue.delete_database(Name=db)


def test_user_defined_functions(glue):
    db = unique("udfs").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    function = {"FunctionName": "To_Upper", "ClassName": "com.example.hive.ToUpper", "OwnerName": "etl", "OwnerType": "USER",
                "ResourceUris": [{"ResourceType": "JAR", "Uri": "s3://jars/udfs.jar"}]}
    # botocore's model has FunctionType since 2025; older clients cannot send it.
    typed = "FunctionType" in glue.meta.service_model.shape_for("UserDefinedFunctionInput").members
    if typed:
        function["FunctionType"] = "REGULAR_FUNCTION"
    glue.create_user_defined_function(DatabaseName=db, FunctionInput=function)
    glue.create_user_defined_function(DatabaseName=db, FunctionInput=dict(function, FunctionName="to_lower", ClassName="com.example.ToLower"))
    got = glue.get_user_defined_function(DatabaseName=db, FunctionName="to_upper")["UserDefinedFunction"]
    assert (got["FunctionName"], got["DatabaseName"], got["ClassName"], got["CatalogId"]) == ("to_upper", db, "com.example.hive.ToUpper", ACCOUNT)
    assert got["ResourceUris"] == [{"ResourceType": "JAR", "Uri": "s3://jars/udfs.jar"}] and "CreateTime" in got
    # The Hive metastore client lists them with the pattern `*`, per database or across all.
    assert sorted(f["FunctionName"] for f in glue.get_user_defined_functions(DatabaseName=db, Pattern="*")["UserDefinedFunctions"]) == [
        "to_lower", "to_upper"]
    assert [f["FunctionName"] for f in glue.get_user_defined_functions(DatabaseName=db, Pattern="to_up*")["UserDefinedFunctions"]] == ["to_upper"]
    assert {f["FunctionName"] for f in glue.get_user_defined_functions(Pattern="to_*")["UserDefinedFunctions"]} >= {"to_lower", "to_upper"}
    glue.update_user_defined_function(DatabaseName=db, FunctionName="to_lower",
                                      FunctionInput=dict(function, FunctionName="to_lower", ClassName="com.example.Lower2"))
    assert glue.get_user_defined_function(DatabaseName=db, FunctionName="to_lower")["UserDefinedFunction"]["ClassName"] == "com.example.Lower2"
    for call, kwargs, expected in [
        (glue.create_user_defined_function, {"DatabaseName": db, "FunctionInput": function}, "AlreadyExistsException"),
        (glue.create_user_defined_function, {"DatabaseName": db, "FunctionInput": {"FunctionName": "no_class"}}, "InvalidInputException"),
        (glue.create_user_defined_function, {"DatabaseName": "missing_db", "FunctionInput": function}, "EntityNotFoundException"),
        (glue.get_user_defined_function, {"DatabaseName": db, "FunctionName": "missing"}, "EntityNotFoundException"),
        (glue.delete_user_defined_function, {"DatabaseName": db, "FunctionName": "missing"}, "EntityNotFoundException"),
    ] + ([(glue.create_user_defined_function, {"DatabaseName": db, "FunctionInput": dict(function, FunctionName="x", FunctionType="MACRO")},
           "InvalidInputException")] if typed else []):
        assert refused(call, **kwargs) == expected, kwargs
    assert len(glue.get_user_defined_functions(DatabaseName=db, Pattern="*")["UserDefinedFunctions"]) == 2
    glue.delete_user_defined_function(DatabaseName=db, FunctionName="to_upper")
    assert refused(glue.get_user_defined_function, DatabaseName=db, FunctionName="to_upper") == "EntityNotFoundException"
    # Functions go with their database.
    glue.delete_database(Name=db)
    glue.create_database(DatabaseInput={"Name": db})
    assert glue.get_user_defined_functions(DatabaseName=db, Pattern="*")["UserDefinedFunctions"] == []
    glue.delete_database(Name=db)


def wait_crawler(glue, name: str):
    deadline = time.monotonic() + 120
    while glue.get_crawler(Name=name)["Crawler"]["State"] != "READY":
        assert time.monotonic() < deadline, "the crawler did not finish"
        time.sleep(0.1)  # polling the crawler's state, as Glue clients do


def test_custom_classifiers_come_before_the_built_in_ones(server, glue):
    s3, athena = server.client("s3"), server.client("athena")
    bucket = unique("classified")
    s3.create_bucket(Bucket=bucket)
    # '~' is no delimiter Glue's built-in CSV classifier tries, and the file has no header.
    s3.put_object(Bucket=bucket, Key="tilde/data.txt", Body=b"1~red~2.5\n2~green~3.5\n3~blue~10.0\n")
    name = unique("tilde")
    glue.create_classifier(CsvClassifier={"Name": name, "Delimiter": "~", "QuoteSymbol": "'", "ContainsHeader": "ABSENT",
                                          "Header": ["id", "colour", "score"]})
    json_name, grok_name = unique("json"), unique("grok")
    glue.create_classifier(JsonClassifier={"Name": json_name, "JsonPath": "$[*]"})
    glue.create_classifier(GrokClassifier={"Name": grok_name, "Classification": "logs", "GrokPattern": "%{COMBINEDAPACHELOG}"})
    got = glue.get_classifier(Name=name)["Classifier"]["CsvClassifier"]
    assert (got["Delimiter"], got["Header"], got["Version"]) == ("~", ["id", "colour", "score"], 1) and "CreationTime" in got
    names = [next(iter(c.values()))["Name"] for c in glue.get_classifiers()["Classifiers"]]
    assert {name, json_name, grok_name} <= set(names)
    glue.update_classifier(GrokClassifier={"Name": grok_name, "GrokPattern": "%{COMMONAPACHELOG}"})
    grok = glue.get_classifier(Name=grok_name)["Classifier"]["GrokClassifier"]
    assert (grok["GrokPattern"], grok["Classification"], grok["Version"]) == ("%{COMMONAPACHELOG}", "logs", 2)
    for call, kwargs, expected in [
        (glue.create_classifier, {"CsvClassifier": {"Name": name}}, "AlreadyExistsException"),
        (glue.create_classifier, {"CsvClassifier": {"Name": "x", "Delimiter": "ab"}}, "InvalidInputException"),
        (glue.create_classifier, {"CsvClassifier": {"Name": "x", "ContainsHeader": "MAYBE"}}, "InvalidInputException"),
        (glue.create_classifier, {"JsonClassifier": {"Name": "x", "JsonPath": "records"}}, "InvalidInputException"),
        (glue.create_classifier, {"JsonClassifier": {"Name": "x", "JsonPath": "$[x]"}}, "InvalidInputException"),
        (glue.create_classifier, {"GrokClassifier": {"Name": "x", "Classification": "c", "GrokPattern": "%{NOPE:x}"}}, "InvalidInputException"),
        (glue.create_classifier, {"GrokClassifier": {"Name": "x", "Classification": "c", "GrokPattern": "%{A:x}",
                                                     "CustomPatterns": "A %{B}\nB %{A}"}}, "InvalidInputException"),
        (glue.update_classifier, {"GrokClassifier": {"Name": grok_name, "GrokPattern": "%{INT:x"}}, "InvalidInputException"),
        (glue.create_classifier, {"CsvClassifier": {"Name": "x"}, "JsonClassifier": {"Name": "y", "JsonPath": "$"}}, "InvalidInputException"),
        (glue.update_classifier, {"JsonClassifier": {"Name": name, "JsonPath": "$"}}, "InvalidInputException"),
        (glue.get_classifier, {"Name": "missing"}, "EntityNotFoundException"),
        (glue.delete_classifier, {"Name": "missing"}, "EntityNotFoundException"),
    ]:
        assert refused(call, **kwargs) == expected, kwargs
    assert glue.get_classifier(Name=name)["Classifier"]["CsvClassifier"]["Version"] == 1

    db = unique("classified_db").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    crawler_name = unique("with-classifier")
    glue.create_crawler(Name=crawler_name, Role="r", DatabaseName=db, Classifiers=[name],
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/tilde/"}]})
    glue.start_crawler(Name=crawler_name)
    wait_crawler(glue, crawler_name)
    tables = glue.get_tables(DatabaseName=db)["TableList"]
    assert len(tables) == 1, tables
    table = tables[0]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [("id", "bigint"), ("colour", "string"), ("score", "double")]
    assert table["Parameters"]["classification"] == "csv" and table["Parameters"]["delimiter"] == "~"
    qid = athena.start_query_execution(QueryString=f'SELECT colour, score FROM "{table["Name"]}" WHERE id = 2',
                                       QueryExecutionContext={"Database": db})["QueryExecutionId"]
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    assert [[d.get("VarCharValue") for d in r["Data"]] for r in athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1:]] == [
        ["green", "3.5"]]
    glue.delete_crawler(Name=crawler_name)
    for n in (name, json_name, grok_name):
        glue.delete_classifier(Name=n)
    assert refused(glue.get_classifier, Name=name) == "EntityNotFoundException"


def test_crawlers_apply_json_path_and_grok_classifiers(server, glue):
    s3, athena = server.client("s3"), server.client("athena")
    bucket = unique("classified")
    s3.create_bucket(Bucket=bucket)
    # A pretty-printed top-level array, which the built-in JSON classifier does not read as records.
    s3.put_object(Bucket=bucket, Key="arrays/part-1.json", Body=b"""[
  {"id": 1, "name": "ann", "tags": ["a", "b"]},
  {"id": 2, "name": "bo", "tags": [], "score": 2.5}
]""")
    s3.put_object(Bucket=bucket, Key="logs/app.log", Body=b"2024-01-01T00:00:00Z [worker-1] INFO : started job 7\n"
                                                           b"2024-01-01T00:00:05Z [worker-2] WARN : job 7 is slow\n")
    json_name, grok_name = unique("records"), unique("applog")
    glue.create_classifier(JsonClassifier={"Name": json_name, "JsonPath": "$[*]"})
    pattern = "%{TIMESTAMP_ISO8601:ts} \\[%{MESSAGEPREFIX:worker}\\] %{CRAWLERLOGLEVEL:level} : %{GREEDYDATA:message}"
    glue.create_classifier(GrokClassifier={"Name": grok_name, "Classification": "applog", "GrokPattern": pattern})
    db = unique("classified_db").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    crawler_name = unique("json-grok")
    glue.create_crawler(Name=crawler_name, Role="r", DatabaseName=db, Classifiers=[json_name, grok_name],
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/arrays/"}, {"Path": f"s3://{bucket}/logs/"}]})
    glue.start_crawler(Name=crawler_name)
    wait_crawler(glue, crawler_name)
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=db)["TableList"]}
    assert set(tables) == {"arrays", "logs"}, tables
    arrays = tables["arrays"]
    assert [(c["Name"], c["Type"]) for c in arrays["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"), ("name", "string"), ("tags", "array<string>"), ("score", "double")]
    assert arrays["Parameters"]["classification"] == "json" and arrays["Parameters"]["recordCount"] == "2"
    logs = tables["logs"]
    sd = logs["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [("ts", "string"), ("worker", "string"), ("level", "string"), ("message", "string")]
    assert logs["Parameters"]["classification"] == "applog"
    assert sd["SerdeInfo"]["SerializationLibrary"] == "com.amazonaws.glue.serde.GrokSerDe"
    assert sd["SerdeInfo"]["Parameters"]["input.format"] == pattern
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    # Reading log tables is not built yet: a query refuses rather than misreading the lines.
    qid = athena.start_query_execution(QueryString=f"SELECT * FROM {db}.logs", ResultConfiguration={"OutputLocation": f"s3://{bucket}/results/"})["QueryExecutionId"]
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "FAILED" and "GrokSerDe" in q["Status"]["StateChangeReason"], q["Status"]

    # A changed classifier is applied to files the crawler has already read.
    typed = "%{TIMESTAMP_ISO8601:ts} \\[%{MESSAGEPREFIX:worker}\\] %{LOGLEVEL:level} : %{WORD:verb} %{GREEDYDATA:rest}"
    glue.update_classifier(GrokClassifier={"Name": grok_name, "GrokPattern": typed, "CustomPatterns": "UNUSED x+"})
    glue.start_crawler(Name=crawler_name)
    wait_crawler(glue, crawler_name)
    logs = glue.get_table(DatabaseName=db, Name="logs")["Table"]
    assert [c["Name"] for c in logs["StorageDescriptor"]["Columns"]] == ["ts", "worker", "level", "verb", "rest"], glue.get_crawler(Name=crawler_name)["Crawler"].get("LastCrawl")
    assert logs["StorageDescriptor"]["SerdeInfo"]["Parameters"] == {"input.format": typed, "input.grokCustomPatterns": "UNUSED x+"}

    # Files a classifier does not match go on to the built-in classifiers.
    s3.put_object(Bucket=bucket, Key="lines/data.json", Body=b'{"k": 1}\n{"k": 2}\n')
    other = unique("lines")
    glue.create_crawler(Name=other, Role="r", DatabaseName=db, Classifiers=[json_name, grok_name],
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/lines/"}]})
    glue.start_crawler(Name=other)
    wait_crawler(glue, other)
    lines = glue.get_table(DatabaseName=db, Name="lines")["Table"]
    assert [(c["Name"], c["Type"]) for c in lines["StorageDescriptor"]["Columns"]] == [("k", "bigint")]
    assert lines["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    for n in (crawler_name, other):
        glue.delete_crawler(Name=n)
    for n in (json_name, grok_name):
        glue.delete_classifier(Name=n)


def test_a_table_a_crawler_deletes_takes_its_tags_and_statistics(server, glue):
    s3 = server.client("s3")
    bucket = unique("retired")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/gone/part.csv", Body=b"id,name\n1,a\n2,b\n")
    db = unique("retired_db").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    name = unique("retiring")
    glue.create_crawler(Name=name, Role="r", DatabaseName=db, Targets={"S3Targets": [{"Path": f"s3://{bucket}/data/gone/"}]},
                        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"})
    glue.start_crawler(Name=name)
    wait_crawler(glue, name)
    assert glue.get_table(DatabaseName=db, Name="gone")["Table"]["Parameters"]["UPDATED_BY_CRAWLER"] == name
    glue.tag_resource(ResourceArn=arn("table", db, "gone"), TagsToAdd={"team": "data"})
    glue.update_column_statistics_for_table(DatabaseName=db, TableName="gone", ColumnStatisticsList=[{
        "ColumnName": "id", "ColumnType": "bigint", "AnalyzedTime": datetime.datetime(2024, 1, 1),
        "StatisticsData": {"Type": "LONG", "LongColumnStatisticsData": {"NumberOfNulls": 0, "NumberOfDistinctValues": 2}}}])
    # The data goes; the next crawl deletes the table, and what belonged to it.
    s3.delete_object(Bucket=bucket, Key="data/gone/part.csv")
    glue.start_crawler(Name=name)
    wait_crawler(glue, name)
    assert refused(glue.get_table, DatabaseName=db, Name="gone") == "EntityNotFoundException"
    glue.create_table(DatabaseName=db, TableInput={"Name": "gone", "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}]}})
    assert glue.get_tags(ResourceArn=arn("table", db, "gone"))["Tags"] == {}
    assert glue.get_column_statistics_for_table(DatabaseName=db, TableName="gone", ColumnNames=["id"])["ColumnStatisticsList"] == []
    glue.delete_crawler(Name=name)
    glue.delete_database(Name=db)
