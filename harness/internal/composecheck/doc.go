// Package composecheck has no code, only tests. They load the docker
// compose topology offline (docker-compose.yml with compose-go, plus
// harness/Dockerfile, toxics/toxiproxy.json,
// dashboards/prometheus/prometheus.yml and dashboards/grafana/provisioning)
// and check what the code relies on: the Toxiproxy proxy names and the ports
// flagserver reaches them on, health checks and start order, loopback-only
// published ports, the image stages and the files the services mount. A
// mistake that only "docker compose up" would reveal fails "go test ./..."
// on a machine without Docker.
package composecheck
