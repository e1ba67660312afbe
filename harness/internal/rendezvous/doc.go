// Package rendezvous gives the runners of a distributed run a shared
// start: each runner drives one segment of the same scenario (package
// segment), and their phases only line up, and their per-phase results
// only merge, if they all start the load at one instant.
//
// The leader is the runner whose segment starts at 0 (it also owns the
// fault timeline). It serves a small HTTP API on the address the user
// gives (--rendezvous HOST:PORT, bound exactly as given); the other
// runners, the followers, connect to it:
//
//	GET  /v1/clock          {"now_unix_nano": N}: the leader's clock
//	POST /v1/join           a follower registers: its id, segment, the
//	                        run's segments and the scenario's hash, and
//	                        its measured clock skew; 409 with the reason
//	                        when refused (another scenario, another
//	                        sequence, a segment taken or not in the run)
//	GET  /v1/start?id=ID    long poll: 200 {"start_unix_nano": N} once
//	                        every runner is in, 202 {"missing": [...]}
//	                        after a few seconds without, 410 {"error": ...}
//	                        when the leader gave up
//
// A follower first measures its clock's offset to the leader's the NTP
// way, over several exchanges of GET /v1/clock: with t0 and t1 its own
// clock before and after, and L the leader's answer, offset = L − (t0+t1)/2,
// uncertain by half the round trip; the exchange with the least round trip
// wins (Estimate). When every segment of the sequence has a runner (one
// runner per segment) and the leader is ready itself, the leader picks the
// start: its clock now plus a margin (default 1 s) plus the largest round
// trip a follower reported, and answers every waiting follower; each
// converts it to its own clock with its offset (start − offset) and starts
// its load there. The offsets and their uncertainty go into every
// runner's report.
//
// Runners still missing when the timeout passes (default 2 min) mean the
// run does not start: *MissingError names their segments, and the CLI
// exits 4 (could not evaluate). A follower refused by the leader gets a
// *RefusedError (the CLI exits 2: its input differs from the leader's).
package rendezvous
