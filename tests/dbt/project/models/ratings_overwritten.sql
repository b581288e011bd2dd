-- Incremental with insert_overwrite on a table partitioned by rating: the first run builds it
-- whole; a later run rebuilds only the partitions it selects (ratings 4 and 5, each age plus
-- 1000), and leaves the others as they were.
{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partitioned_by=['rating'], format='parquet') }}
select review_id, class_name,
{% if is_incremental() %} age + 1000 as age {% else %} age {% endif %},
rating
from {{ ref('reviews') }}
{% if is_incremental() %} where rating >= 4 {% endif %}
