// Command benchengine measures flagstorm's load engine against wrk and hey,
// in one invocation, on the same 2-core machine as the servers it loads:
//
//   - throughput: flagstorm run (constant-vus), wrk and hey at the same
//     concurrency against a hello-world server and against flagserver,
//     alternated round-robin for several rounds: requests per second and
//     the load generator's CPU time per request;
//   - accuracy: flagstorm's p50 through an embedded Toxiproxy proxy,
//     without and with a 100 ms latency toxic;
//   - memory: flagstorm's peak RSS for a constant-arrival-rate run of one
//     length and of a longer one at the same rate;
//   - clients (opt-in, -only clients): flagstorm's cost taken apart, the
//     engine in-process with and without the CLI's telemetry observer,
//     its net/http client alone and a bare-socket Go client, next to the
//     flagstorm CLI and wrk, against the hello server.
//
// It prints a Markdown report (setup, tables, goal verdicts) on stdout.
//
//	go run ./harness/cmd/benchengine -duration 10s -connections 50 -rounds 3
//
// Every server and load generator is its own process, in its own process
// group, on free loopback ports; all of them are stopped on every exit
// path, Ctrl-C included.
package main

import "github.com/flagstorm/flagstorm/internal/benchkit"

func main() { benchkit.Main(run) }
