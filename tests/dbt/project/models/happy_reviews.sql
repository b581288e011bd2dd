{{ config(materialized='view') }}
select review_id, class_name, review_text
from {{ ref('reviews') }}
where rating >= 4
