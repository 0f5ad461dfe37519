# sql-exporter may read its PostgreSQL login at secret/sql-exporter and
# nothing else.
path "secret/data/sql-exporter" {
  capabilities = ["read"]
}
