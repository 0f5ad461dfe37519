# The Prometheus AppRole's policy: Vault's metrics, nothing else.
path "sys/metrics" {
  capabilities = ["read"]
}
