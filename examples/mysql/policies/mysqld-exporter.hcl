# mysqld-exporter (all three variants) may read the MySQL login at
# secret/mysql and nothing else.
path "secret/data/mysql" {
  capabilities = ["read"]
}
