# A Consul server of a three-server cluster (Raft). One per server host; render the {{.}} fields
# per host (test/cluster does, with its own addresses). Open 8300 (server RPC), 8301/8302
# (Serf LAN/WAN, TCP and UDP), 8500 (HTTP API) between the hosts.
node_name        = "{{.Node}}"
data_dir         = "{{.DataDir}}"
server           = true
bootstrap_expect = 3
bind_addr        = "{{.Address}}"
advertise_addr   = "{{.Address}}"
client_addr      = "{{.Address}} 127.0.0.1"
retry_join       = [{{range $i, $a := .Join}}{{if $i}}, {{end}}"{{$a}}"{{end}}]
log_level        = "WARN"
# No call home to HashiCorp's update checkpoint: the hosts reach no one but each other.
disable_update_check = true
ui_config {
  enabled = false
}
# ACLs on, deny by default, as on one host: every binary registers with a token that may write
# its own service only (tools/consul-acl creates them with the management token), and the agent
# keeps its node in the catalog with an agent token (node_prefix write, service_prefix read).
acl {
  enabled                  = true
  default_policy           = "deny"
  down_policy              = "extend-cache"
  enable_token_persistence = true
  tokens {
    initial_management = "{{.ManagementToken}}"
    agent              = "{{.AgentToken}}"
  }
}
# Production timing (Consul's default multiplier, 5, is for small machines): a lost leader is
# replaced in about a second or two, not ten.
performance {
  raft_multiplier = 1
}
