# A Consul client agent: one on every application host. The services of the host register with
# it (REGISTRY_ADDRESS={{.Address}}:8500), and it forwards to the servers; it holds no data of
# its own worth keeping.
node_name      = "{{.Node}}"
data_dir       = "{{.DataDir}}"
bind_addr      = "{{.Address}}"
advertise_addr = "{{.Address}}"
client_addr    = "{{.Address}} 127.0.0.1"
retry_join     = [{{range $i, $a := .Join}}{{if $i}}, {{end}}"{{$a}}"{{end}}]
log_level      = "WARN"
# No call home to HashiCorp's update checkpoint: the hosts reach no one but each other.
disable_update_check = true
ui_config {
  enabled = false
}
# ACLs as on the servers; a client agent holds only its agent token (see server.hcl).
acl {
  enabled                  = true
  default_policy           = "deny"
  down_policy              = "extend-cache"
  enable_token_persistence = true
  tokens {
    agent = "{{.AgentToken}}"
  }
}
