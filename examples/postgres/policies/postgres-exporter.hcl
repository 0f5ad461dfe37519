# postgres-exporter may read the PostgreSQL login at secret/postgres and
# nothing else.
path "secret/data/postgres" {
  capabilities = ["read"]
}
