-- Run once, on the first start of the data volume (see docker-compose.yml).
CREATE DATABASE IF NOT EXISTS demo;

CREATE EXTERNAL TABLE IF NOT EXISTS demo.reviews (id int, product string, stars int)
ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
LOCATION 's3://demo/reviews/'
TBLPROPERTIES ('skip.header.line.count' = '1');
