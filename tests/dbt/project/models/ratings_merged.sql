-- An incremental Iceberg table with the merge strategy: the first run builds it whole; a later
-- run merges its rows by review_id (the reviews below id 100, each rating plus 10) into it.
{{ config(materialized='incremental', table_type='iceberg', incremental_strategy='merge', unique_key='review_id', format='parquet') }}
select review_id, class_name,
{% if is_incremental() %} rating + 10 as rating {% else %} rating {% endif %}
from {{ ref('reviews') }}
{% if is_incremental() %} where review_id < 100 {% endif %}
