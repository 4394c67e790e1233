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
ui_config {
  enabled = false
}
# Production timing (Consul's default multiplier, 5, is for small machines): a lost leader is
# replaced in about a second or two, not ten.
performance {
  raft_multiplier = 1
}
