// Command benchtarget measures flagserver's hot paths with wrk, next to
// two reference handlers run the same way (a hello-world net/http handler
// and one doing a single go-redis GET), in one invocation, alternating the
// cases round-robin so that machine noise hits them alike. It prints a
// Markdown report (medians, ratios, peak RSS, goal verdicts) on stdout.
//
//	go run ./target/cmd/benchtarget -duration 10s -connections 50 -rounds 3
//
// Every server under test is its own process on a free loopback port, with
// a dedicated redis-server; all of them are stopped on every exit path.
package main

import "github.com/flagstorm/flagstorm/internal/benchkit"

func main() { benchkit.Main(run) }
