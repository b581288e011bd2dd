-- Fails on purpose: the reviews have one-star ratings. test_dbt.py checks that dbt reports this
-- test, and only this one, as failing, so the tests are seen to run and to judge.
select review_id, rating from {{ ref('reviews') }} where rating = 1
