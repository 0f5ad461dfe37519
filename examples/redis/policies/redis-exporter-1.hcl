# redis-exporter-1 may read the password of redis-1 and nothing else.
path "secret/data/redis-1" {
  capabilities = ["read"]
}
