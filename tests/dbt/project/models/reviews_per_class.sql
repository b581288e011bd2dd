select class_name, count(*) as reviews, sum(rating) as rating_total, max(age) as oldest
from {{ ref('reviews') }}
group by class_name
