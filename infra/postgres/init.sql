-- Run once, on the first start of an empty data folder: the three databases of the stack.
CREATE DATABASE mlflow;
CREATE DATABASE mlflow_auth;
CREATE DATABASE prefect;
\connect prefect
CREATE EXTENSION IF NOT EXISTS pg_trgm;  -- Prefect's server needs it on PostgreSQL
