-- docker-compose only: the read-only role infra/postgres.sh creates on our machines; the projection runner
-- grants it SELECT on the read models when it creates them.
CREATE ROLE rcm_grafana LOGIN PASSWORD 'rcm_grafana' NOSUPERUSER NOCREATEDB NOCREATEROLE;
