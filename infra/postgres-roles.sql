-- The ledger's roles and its database (README "Using PostgreSQL"), run by psql as a superuser with a variable named
-- after each role set to its password (\set rcm_writer 'PASSWORD' and so on, before this file):
-- infra/postgres.sh runs it on every start, docker-compose's PostgreSQL once at initdb (infra/docker/roles.sh).
-- Idempotent: roles that exist get the passwords given. Which tables each role may use is granted per schema by
-- `rcm db grant`, run as the owner once the tables exist.
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', r)
  FROM unnest(ARRAY['rcm', 'rcm_writer', 'rcm_projector', 'rcm_grafana', 'rcm_auditor']) r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE rcm LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'rcm';
ALTER ROLE rcm_writer LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'rcm_writer';
ALTER ROLE rcm_projector LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'rcm_projector';
ALTER ROLE rcm_grafana LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'rcm_grafana';
ALTER ROLE rcm_auditor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'rcm_auditor';
SELECT 'CREATE DATABASE rcm OWNER rcm' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'rcm') \gexec
ALTER DATABASE rcm OWNER TO rcm;
-- only the ledger's roles connect; only the owner and the projector (its page writer stages rows in temporary
-- tables) may create temporary tables
REVOKE ALL ON DATABASE rcm FROM PUBLIC;
GRANT CONNECT ON DATABASE rcm TO rcm_writer, rcm_projector, rcm_grafana, rcm_auditor;
GRANT TEMPORARY ON DATABASE rcm TO rcm_projector;
REVOKE TEMPORARY ON DATABASE rcm FROM rcm_writer, rcm_grafana, rcm_auditor;
