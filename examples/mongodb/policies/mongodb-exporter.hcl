# mongodb-exporter may read the MongoDB login at secret/mongodb and nothing
# else.
path "secret/data/mongodb" {
  capabilities = ["read"]
}
