# redis-exporter-3 may read the password of redis-3 and nothing else.
path "secret/data/redis-3" {
  capabilities = ["read"]
}
