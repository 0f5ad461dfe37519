# redis-exporter-2 may read the password of redis-2 and nothing else.
path "secret/data/redis-2" {
  capabilities = ["read"]
}
