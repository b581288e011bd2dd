-- An Iceberg table, partitioned by class: dbt-athena builds it with a CTAS whose
-- table_type is iceberg, and on a re-run builds it again beside the old one and swaps them.
{{ config(materialized='table', table_type='iceberg', partitioned_by=['class_name'], format='parquet') }}
select review_id, class_name, rating
from {{ ref('reviews') }}
