-- Incremental with append on a table partitioned by class: a later run adds the reviews below id
-- 100 again, beside what is there.
{{ config(materialized='incremental', incremental_strategy='append', partitioned_by=['class_name']) }}
select review_id, rating, class_name
from {{ ref('reviews') }}
{% if is_incremental() %} where review_id < 100 {% endif %}
